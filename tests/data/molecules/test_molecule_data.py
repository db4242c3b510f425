"""Molecule data: the offline sets (g2, rdkit), padding / one-hot / centring, splits, the
QM9 loader on generated files of both layouts, and the bad-input errors."""

import bz2
import io
import os
import tarfile

import numpy as np
import pytest

from diffax.data import dataset_names, dataset_options, get_dataset, make_pipeline
from diffax.data.molecules import Molecule, pack, parse_xyz, read_g2, split_indices


def test_registered_names_and_options():
    for name in ("mol:g2", "mol:rdkit", "mol:qm9"):
        assert name in dataset_names()
    assert dataset_options("mol:g2") == ("max_atoms", "elements", "include_charges")
    assert dataset_options("mol:qm9") == ("max_atoms", "elements", "data_dir",
                                          "include_charges")
    with pytest.raises(ValueError, match=r"unknown split 'val'"):
        get_dataset("mol:g2", "val")


def test_include_charges_appends_the_atomic_number():
    """EDM's integer feature: the atomic number after the one-hot, 0 on padding; the
    other channels unchanged."""
    plain = get_dataset("mol:g2", "test")
    ds = get_dataset("mol:g2", "test", include_charges=True)
    x, x0 = ds.get(np.arange(ds.num_examples))["x"], plain.x
    assert ds.shape == (14, 3 + 14 + 1) and ds.element_spec["x"].shape == ds.shape
    np.testing.assert_array_equal(x[..., :-1], x0)
    np.testing.assert_array_equal(x[..., -1], ds.atomic_numbers)
    z_of_argmax = np.array([int(e) for e in (1, 3, 4, 5, 6, 7, 8, 9, 11, 13, 14, 15, 16,
                                             17)])[x0[..., 3:].argmax(-1)]
    real = ds.node_mask > 0
    assert ds.elements == ("H", "Li", "Be", "B", "C", "N", "O", "F", "Na", "Al", "Si",
                           "P", "S", "Cl")
    np.testing.assert_array_equal(x[..., -1][real], z_of_argmax[real])
    assert np.all(x[..., -1][~real] == 0)
    with pytest.raises(ValueError, match="include_charges must be True or False"):
        pack([Molecule("h2", np.array([1, 1]), np.zeros((2, 3)))], name="t", split="train",
             elements=("H",), max_atoms=2, include_charges=1)


def test_g2_matches_ase_and_is_centred_padded_one_hot():
    from ase.collections import g2

    splits = {s: get_dataset("mol:g2", s) for s in ("train", "validation", "test")}
    assert [d.num_examples for d in splits.values()] == [130, 16, 16]
    names = [n for d in splits.values() for n in d.names]
    assert sorted(names) == sorted(g2.names)  # the splits partition the 162 molecules
    d = splits["train"]
    assert d.shape == (14, 3 + 14) and d.elements[:3] == ("H", "Li", "Be")
    batch = make_pipeline(d, 8, 0).batch(0)
    assert set(batch) == {"x", "node_mask"} and batch["x"].shape == (8, 14, 17)
    for i, name in enumerate(d.names):
        atoms = g2[name]
        n = len(atoms)
        x, mask = d.x[i], d.node_mask[i]
        assert mask.sum() == n == d.num_atoms[i]
        # positions: ase's, shifted by their mean (zero centre of mass, unweighted)
        ref = atoms.get_positions() - atoms.get_positions().mean(0)
        np.testing.assert_allclose(x[:n, :3], ref, atol=1e-6)
        np.testing.assert_allclose(x[:n, :3].sum(0), 0.0, atol=1e-5)
        np.testing.assert_array_equal(d.atomic_numbers[i, :n], atoms.get_atomic_numbers())
        assert np.all(x[:n, 3:].sum(-1) == 1) and np.all(x[n:] == 0)
        assert [d.elements[j] for j in x[:n, 3:].argmax(-1)] == atoms.get_chemical_symbols()


def test_rdkit_sets_are_3d_with_hydrogens():
    d = get_dataset("mol:rdkit", "test")
    assert d.elements == ("H", "C", "N", "O", "F", "S", "Cl", "Br", "I")
    assert d.max_atoms == 76  # the largest of egfr + cdk2 + cmet, same in every split
    h = d.elements.index("H")
    assert (d.types == h).sum() > 0.3 * d.num_atoms.sum()  # hydrogens kept
    spread = np.ptp(d.positions[..., 2], axis=1)
    assert np.all(spread > 0.5)  # genuinely 3-D
    small = get_dataset("mol:rdkit", "test", sets=("cmet",), elements=d.elements)
    assert small.num_examples in (2, 3)


def test_splits_are_deterministic_and_disjoint():
    parts = [split_indices(101, s) for s in ("train", "validation", "test")]
    assert [len(p) for p in parts] == [81, 10, 10]
    np.testing.assert_array_equal(np.sort(np.concatenate(parts)), np.arange(101))
    np.testing.assert_array_equal(parts[0], split_indices(101, "train"))


def _xyz(mol: Molecule, fmt_star: bool) -> str:
    rows = []
    for z, p in zip(mol.atomic_numbers, mol.positions):
        sym = {1: "H", 6: "C", 7: "N", 8: "O", 9: "F"}[int(z)]
        coords = [f"{v:.10f}" for v in p]
        if fmt_star:  # QM9 writes some tiny numbers as Mathematica exponents
            coords[0] = f"{p[0] * 1e6:.4f}*^-6"
        rows.append("\t".join([sym, *coords, "-0.1"]))
    return "\n".join([str(len(rows)), "gdb 1\t157.7\t157.7", *rows, "1341.3\t1341.3",
                      "C\tC", "InChI=1S/CH4/h1H4\tInChI=1S/CH4/h1H4"]) + "\n"


def _fake_qm9(num: int, seed: int = 0) -> list[Molecule]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(num):
        n = int(rng.integers(3, 10))
        z = rng.choice([1, 6, 7, 8, 9], size=n)
        out.append(Molecule(f"dsgdb9nsd_{i + 1:06d}.xyz", z.astype(np.int32),
                            rng.normal(size=(n, 3)) * 1.5))
    return out


def test_qm9_raw_xyz_folder_and_archive(tmp_path):
    mols = _fake_qm9(30)
    folder, arch = tmp_path / "xyz", tmp_path / "tar"
    folder.mkdir(), arch.mkdir()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for i, m in enumerate(mols):
            text = _xyz(m, fmt_star=i % 2 == 0)
            (folder / m.name).write_text(text)
            info = tarfile.TarInfo(m.name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    (arch / "dsgdb9nsd.xyz.tar.bz2").write_bytes(bz2.compress(buf.getvalue()))
    for where in (folder, arch):
        test = get_dataset("mol:qm9", "test", data_dir=str(where))
        assert test.elements == ("H", "C", "N", "O", "F") and test.max_atoms == 29
        idx = split_indices(30, "test")
        assert list(test.names) == [mols[i].name for i in idx]
        for row, i in enumerate(idx):
            n = len(mols[i].atomic_numbers)
            ref = mols[i].positions - mols[i].positions.mean(0)
            np.testing.assert_allclose(test.positions[row, :n], ref, atol=2e-5)
            np.testing.assert_array_equal(test.atomic_numbers[row, :n],
                                          mols[i].atomic_numbers)
    assert parse_xyz(_xyz(mols[0], True), "a").positions[0, 0] == pytest.approx(
        mols[0].positions[0, 0], abs=1e-9)
    with pytest.raises(ValueError, match=r"QM9 file 'bad.xyz' is not in the QM9 xyz"):
        parse_xyz("3\nprops\nC 0 0 0 0\n", "bad.xyz")


def test_qm9_edm_npz_layout(tmp_path):
    mols = _fake_qm9(12, seed=1)
    for split, file, part in (("train", "train.npz", mols[:8]),
                              ("validation", "valid.npz", mols[8:10]),
                              ("test", "test.npz", mols[10:])):
        charges = np.zeros((len(part), 29), np.int64)
        pos = np.zeros((len(part), 29, 3))
        for i, m in enumerate(part):
            charges[i, :len(m.atomic_numbers)] = m.atomic_numbers
            pos[i, :len(m.atomic_numbers)] = m.positions
        np.savez(tmp_path / file, num_atoms=[len(m.atomic_numbers) for m in part],
                 charges=charges, positions=pos, index=np.arange(len(part)) + 7)
        d = get_dataset("mol:qm9", split, data_dir=str(tmp_path))
        assert d.num_examples == len(part) and d.names[0] == "qm9/7"
        np.testing.assert_array_equal(d.num_atoms, [len(m.atomic_numbers) for m in part])
        m = part[-1]
        np.testing.assert_allclose(d.positions[-1, :len(m.atomic_numbers)],
                                   m.positions - m.positions.mean(0), atol=1e-5)


def test_bad_input_errors(tmp_path):
    with pytest.raises(ValueError, match=r"mol:qm9 needs data_dir"):
        get_dataset("mol:qm9")
    with pytest.raises(FileNotFoundError, match=r"see docs/molecules.md"):
        get_dataset("mol:qm9", data_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"unknown atom type\(s\) \['Cl'\]; valid atom "
                                         r"types: \['H', 'Li'"):
        get_dataset("mol:g2", "train", elements=("H", "C", "N", "O", "F", "Li", "Be", "B",
                                                  "Na", "Al", "Si", "P", "S"))
    with pytest.raises(ValueError, match=r"molecule .* has \d+ atoms, more than max_atoms=5; raise max_atoms"):
        get_dataset("mol:g2", "train", max_atoms=5)
    with pytest.raises(ValueError, match=r"unknown chemical element 'Xx'"):
        get_dataset("mol:g2", elements=("H", "Xx"))
    ok = read_g2()[0]
    cases = [(Molecule("m", ok.atomic_numbers, None), r"molecule 'm' has no coordinates"),
             (Molecule("m", ok.atomic_numbers, ok.positions[:, :2]), r"shape \(4, 3\)"),
             (Molecule("m", ok.atomic_numbers, ok.positions * np.nan), r"non-finite"),
             (Molecule("m", np.zeros(0, np.int32), np.zeros((0, 3))), r"has no atoms")]
    for mol, msg in cases:
        with pytest.raises(ValueError, match=msg):
            pack([mol], name="t", split="train", elements=("H", "P"), max_atoms=8)
    with pytest.raises(ValueError, match=r"data_dir is only for mol:qm9"):
        from diffax.data.molecules import load_molecules
        load_molecules("g2", data_dir=os.getcwd())
