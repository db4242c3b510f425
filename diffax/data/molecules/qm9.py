"""QM9 (Ramakrishnan et al. 2014, 134k molecules of up to 9 heavy atoms C, N, O, F, with
hydrogens: at most 29 atoms) from a local folder, in either of two common layouts:

1. **EDM's processed split** (Hoogeboom et al. 2022, from the Cormorant preprocessing of
   Anderson et al. 2019): ``train.npz``, ``valid.npz``, ``test.npz``, each with
   ``num_atoms`` (M,), ``charges`` (M, 29) atomic numbers (0 on padding) and
   ``positions`` (M, 29, 3) in Angstrom. diffax's ``"validation"`` split reads
   ``valid.npz``. This is the split EDM reports on.
2. **The raw archive**: the ``dsgdb9nsd_XXXXXX.xyz`` files of ``dsgdb9nsd.xyz.tar.bz2``
   (figshare, DOI 10.6084/m9.figshare.978904), either extracted in the folder or the
   archive itself. Each file: line 1 the atom count n, line 2 the properties, then n
   lines ``symbol x y z mulliken_charge`` (numbers may be written ``1.5*^-6``), then
   frequencies, SMILES and InChI. The molecules, in file order, are split 80/10/10 %
   with :func:`~diffax.data.molecules.sources.split_indices` (seed 0).

How to get the files: see docs/molecules.md.
"""

from __future__ import annotations

import functools
import glob
import os
import tarfile

import numpy as np

from diffax.data.molecules.dataset import Molecule
from diffax.data.molecules.elements import atomic_number
from diffax.data.molecules.sources import split_indices

NPZ_FILES = {"train": "train.npz", "validation": "valid.npz", "test": "test.npz"}
ARCHIVE = "dsgdb9nsd.xyz.tar.bz2"


def _number(text: str) -> float:
    return float(text.replace("*^", "e"))


def parse_xyz(text: str, name: str) -> Molecule:
    """One QM9 ``.xyz`` file's atoms (ValueError naming ``name`` if it is malformed)."""
    lines = text.splitlines()
    try:
        n = int(lines[0].strip())
        rows = [lines[2 + i].split() for i in range(n)]
        z = np.array([atomic_number(r[0]) for r in rows], np.int32)
        pos = np.array([[_number(v) for v in r[1:4]] for r in rows], np.float64)
    except (IndexError, ValueError) as err:
        raise ValueError(f"QM9 file {name!r} is not in the QM9 xyz format (atom count, "
                         f"properties line, then 'symbol x y z charge' per atom): {err}"
                         ) from None
    return Molecule(name, z, pos)


def _xyz_index(name: str) -> int:
    stem = os.path.basename(name).rsplit(".", 1)[0]
    return int(stem.rsplit("_", 1)[-1]) if stem.rsplit("_", 1)[-1].isdigit() else -1


@functools.lru_cache(maxsize=4)
def read_xyz_folder(data_dir: str) -> tuple[Molecule, ...]:
    """Every QM9 molecule of the raw files in ``data_dir`` (extracted ``*.xyz`` files,
    else the archive), ordered by QM9 index."""
    files = sorted(glob.glob(os.path.join(data_dir, "*.xyz")), key=_xyz_index)
    if files:
        out = []
        for f in files:
            with open(f) as fh:
                out.append(parse_xyz(fh.read(), os.path.basename(f)))
        return tuple(out)
    archive = os.path.join(data_dir, ARCHIVE)
    with tarfile.open(archive, "r:*") as tar:
        members = sorted((m for m in tar.getmembers() if m.name.endswith(".xyz")),
                         key=lambda m: _xyz_index(m.name))
        return tuple(parse_xyz(tar.extractfile(m).read().decode(), os.path.basename(m.name))
                     for m in members)


def read_npz(path: str) -> tuple[Molecule, ...]:
    """The molecules of one of EDM's processed ``.npz`` files."""
    with np.load(path) as f:
        missing = [k for k in ("num_atoms", "charges", "positions") if k not in f]
        if missing:
            raise ValueError(f"QM9 file {path} lacks {missing} (EDM's processed files hold "
                             f"num_atoms, charges, positions); found {sorted(f.files)}.")
        counts, charges, positions = f["num_atoms"], f["charges"], f["positions"]
        index = f["index"] if "index" in f else np.arange(len(counts))
    return tuple(Molecule(f"qm9/{int(index[i])}", charges[i, :n].astype(np.int32),
                          positions[i, :n]) for i, n in enumerate(counts.astype(int)))


def read_qm9(data_dir: str | os.PathLike | None, split: str) -> tuple[Molecule, ...]:
    """Split ``split`` of QM9 from ``data_dir`` (module docstring for the layouts).

    Raises:
      ValueError: no ``data_dir``; FileNotFoundError: neither layout is there.
    """
    if data_dir is None:
        raise ValueError("mol:qm9 needs data_dir=<folder with train.npz/valid.npz/test.npz "
                         f"or the QM9 xyz files or {ARCHIVE}>; see docs/molecules.md.")
    data_dir = os.fspath(data_dir)
    split_indices(1, split, where="mol:qm9")  # validates the split name
    npz = os.path.join(data_dir, NPZ_FILES[split])
    if os.path.exists(npz):
        return read_npz(npz)
    if glob.glob(os.path.join(data_dir, "*.xyz")) or os.path.exists(
            os.path.join(data_dir, ARCHIVE)):
        every = read_xyz_folder(data_dir)
        return tuple(every[i] for i in split_indices(len(every), split, where="mol:qm9"))
    raise FileNotFoundError(
        f"mol:qm9: {data_dir} holds neither {NPZ_FILES[split]} (EDM's processed split) nor "
        f"QM9 .xyz files nor {ARCHIVE}; see docs/molecules.md for how to get QM9.")


__all__ = ["ARCHIVE", "NPZ_FILES", "parse_xyz", "read_npz", "read_qm9", "read_xyz_folder"]
