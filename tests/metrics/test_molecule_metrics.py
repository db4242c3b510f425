"""Molecule metrics: EDM's bond-order thresholds, stability and rdkit validity on real
molecules (ase's G2 set), and a molecule with a displaced atom that must fail."""

import numpy as np
import pytest
from ase.collections import g2

from diffax.data import get_dataset
from diffax.metrics.molecules import bond_order, bond_orders, molecule_metrics, stable_atoms


def _one(name):
    atoms = g2[name]
    symbols = atoms.get_chemical_symbols()
    elements = sorted(set(symbols))
    types = np.array([[elements.index(s) for s in symbols]])
    return atoms.get_positions()[None], types, np.ones_like(types), elements


def test_bond_order_thresholds():
    # C-C: single 154 pm (+10), double 134 (+5), triple 120 (+3)
    assert [bond_order("C", "C", d) for d in (1.639, 1.641, 1.389, 1.391, 1.229, 1.231)] == [
        1, 0, 2, 1, 3, 2]
    assert bond_order("C", "H", 1.09) == bond_order("H", "C", 1.09) == 1
    assert bond_order("H", "H", 1.0) == 0  # 100 pm >= 74 + 10
    assert bond_order("Li", "H", 1.0) == 0  # no entry for the pair: no bond
    assert bond_order("O", "H", 0.5) == 1  # no double bond in the O-H table


@pytest.mark.parametrize("name, smiles", [("CH4", "C"), ("H2O", "O"), ("NH3", "N"),
                                          ("C2H4", "C=C"), ("C2H2", "C#C"),
                                          ("CH3OH", "CO"), ("HCN", "C#N")])
def test_real_molecules_are_stable_and_valid(name, smiles):
    pos, types, mask, elements = _one(name)
    m = molecule_metrics(pos, types, mask, elements)
    assert m["atom_stability"] == 1.0 and m["molecule_stability"] == 1.0
    assert m["validity"] == 1.0 and m["connected"] == 1.0
    from rdkit import Chem

    from diffax.metrics.molecules import to_rdkit
    symbols = [elements[k] for k in types[0]]
    mol = to_rdkit(symbols, bond_orders(symbols, pos[0]))
    assert Chem.MolToSmiles(Chem.RemoveHs(mol)) == smiles


def test_displaced_atom_breaks_stability():
    pos, types, mask, elements = _one("CH3OH")
    moved = pos.copy()
    moved[0, -1] += np.array([10.0, 0.0, 0.0])  # an H 10 Angstrom away
    m = molecule_metrics(moved, types, mask, elements)
    assert m["molecule_stability"] == 0.0
    assert m["atom_stability"] == pytest.approx(4 / 6)  # the H and the atom it left
    assert m["connected"] < 1.0  # the lone H is a fragment of its own
    symbols = [elements[k] for k in types[0]]
    ok = stable_atoms(symbols, bond_orders(symbols, moved[0]))
    assert not ok[-1] and ok.sum() == 4


def test_data_reference_scores_g2():
    """The data's own scores (reference numbers in docs/molecules.md): G2 holds radicals
    and Li/Be/Na compounds that the valence table calls unstable, but most atoms are
    stable and almost every molecule is valid."""
    d = get_dataset("mol:g2", "train")
    m = molecule_metrics(d.positions, d.types, d.node_mask, d.elements)
    assert m["num_molecules"] == 130
    assert m["atom_stability"] == pytest.approx(0.8806, abs=1e-3)
    assert m["molecule_stability"] == pytest.approx(72 / 130)
    assert m["validity"] == pytest.approx(126 / 130)
    assert m["uniqueness"] > 0.9
    # invariant to a rigid motion and a relabelling of the atoms
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    perm = rng.permutation(d.max_atoms)
    moved = molecule_metrics((d.positions @ q.T + 3.0)[:, perm], d.types[:, perm],
                             d.node_mask[:, perm], d.elements)
    np.testing.assert_array_equal(moved["stable"], m["stable"])
    assert moved["validity"] == m["validity"]


def test_bad_input():
    with pytest.raises(ValueError, match=r"positions must have shape \(M, N, 3\)"):
        molecule_metrics(np.zeros((2, 3)), np.zeros((2, 3)), np.ones((2, 3)), ("H",))
    with pytest.raises(ValueError, match=r"not finite"):
        molecule_metrics(np.full((1, 2, 3), np.nan), np.zeros((1, 2), int), np.ones((1, 2)),
                         ("H",))
