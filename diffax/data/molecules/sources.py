"""Molecule sources that install offline: ase's G2 set and rdkit's bundled 3-D SDF sets.

* ``g2``: ``ase.collections.g2``, the 162 molecules of the G2 set (Curtiss et al. 1997)
  with their 3-D geometries (MP2 optimised): small neutral molecules and radicals of
  H, Li, Be, B, C, N, O, F, Na, Al, Si, P, S, Cl (at most 14 atoms).
* ``rdkit``: the SDF files in rdkit's wheel that carry 3-D coordinates with every
  hydrogen explicit: ``egfr`` (``Contrib/PBF/testData/egfr.sdf``, 365 EGFR ligands),
  ``cdk2`` (``Contrib/Fastcluster/testdata/cdk2.sdf``, 47 CDK2 ligands) and ``cmet``
  (``Contrib/FreeWilson/data/cmet_ligands.sdf``, 24 c-Met ligands): drug-like molecules
  of H, C, N, O, F, S, Cl, Br, I with up to 76 atoms. The wheel's other SDF
  (``Data/NCI/first_200.props.sdf``) is 2-D only (z = 0, no hydrogens); the set ``nci``
  adds hydrogens and embeds one conformer per molecule with ETKDG (Riniker & Landrum
  2015) under the fixed seed 0; molecules ETKDG cannot embed are left out.

:func:`split_indices` is the deterministic split every source without its own split uses.
"""

from __future__ import annotations

import functools
import os

import numpy as np

from diffax import checks
from diffax.data.molecules.dataset import Molecule

#: the rdkit SDF sets and their paths inside the rdkit package.
RDKIT_SETS = {
    "egfr": "Contrib/PBF/testData/egfr.sdf",
    "cdk2": "Contrib/Fastcluster/testdata/cdk2.sdf",
    "cmet": "Contrib/FreeWilson/data/cmet_ligands.sdf",
    "nci": "Data/NCI/first_200.props.sdf",
}
#: the 3-D sets read by default.
RDKIT_DEFAULT_SETS = ("egfr", "cdk2", "cmet")
SPLITS = ("train", "validation", "test")
#: fractions of the molecules in ``SPLITS`` (the rest after train and validation: test).
SPLIT_FRACTIONS = (0.8, 0.1)


def split_indices(num: int, split: str, *, seed: int = 0, where: str = "molecules"
                  ) -> np.ndarray:
    """Indices of ``split`` among ``num`` molecules: a permutation drawn with ``seed``,
    cut 80 / 10 / 10 % into train / validation / test (the same for every call)."""
    checks.choice(where, "split", split, SPLITS)
    perm = np.random.default_rng(seed).permutation(num)
    n_train = int(round(SPLIT_FRACTIONS[0] * num))
    n_valid = int(round(SPLIT_FRACTIONS[1] * num))
    cuts = {"train": (0, n_train), "validation": (n_train, n_train + n_valid),
            "test": (n_train + n_valid, num)}
    lo, hi = cuts[split]
    return np.sort(perm[lo:hi])


@functools.lru_cache(maxsize=None)
def read_g2() -> tuple[Molecule, ...]:
    """The 162 G2 molecules of ``ase.collections.g2`` (in the collection's order)."""
    from ase.collections import g2

    return tuple(Molecule(name, np.asarray(g2[name].get_atomic_numbers(), np.int32),
                          np.asarray(g2[name].get_positions(), np.float64))
                 for name in g2.names)


def _rdkit_dir() -> str:
    import rdkit

    return os.path.dirname(rdkit.__file__)


def _from_rdkit(mol, name: str) -> Molecule:
    conf = mol.GetConformer()
    z = np.array([a.GetAtomicNum() for a in mol.GetAtoms()], np.int32)
    return Molecule(name, z, np.asarray(conf.GetPositions(), np.float64))


@functools.lru_cache(maxsize=None)
def read_rdkit_set(name: str) -> tuple[Molecule, ...]:
    """One SDF set of :data:`RDKIT_SETS`, every hydrogen explicit, 3-D (``nci``:
    embedded, see the module docstring). Molecule names: ``"<set>/<index>:<title>"``."""
    checks.choice("rdkit molecules", "set", name, RDKIT_SETS)
    from rdkit import Chem, RDLogger
    from rdkit.Chem import AllChem

    RDLogger.DisableLog("rdApp.*")
    path = os.path.join(_rdkit_dir(), RDKIT_SETS[name])
    if not os.path.exists(path):
        raise FileNotFoundError(f"rdkit set {name!r}: {path} is not in the installed rdkit "
                                f"wheel (pinned rdkit 2026.9.1 ships it).")
    out = []
    for i, mol in enumerate(Chem.SDMolSupplier(path, removeHs=False)):
        if mol is None:
            continue
        title = mol.GetProp("_Name") if mol.HasProp("_Name") else ""
        if name == "nci":  # 2-D: add hydrogens, embed a conformer with a fixed seed
            mol = Chem.AddHs(mol)
            params = AllChem.ETKDGv3()
            params.randomSeed = 0
            if AllChem.EmbedMolecule(mol, params) != 0:
                continue
        elif not mol.GetConformer().Is3D():
            raise ValueError(f"rdkit set {name!r}: molecule {i} ({title!r}) has no 3-D "
                             f"coordinates.")
        out.append(_from_rdkit(mol, f"{name}/{i}:{title}"))
    return tuple(out)


def read_rdkit(sets: tuple[str, ...] = RDKIT_DEFAULT_SETS) -> tuple[Molecule, ...]:
    """The molecules of ``sets`` (see :data:`RDKIT_SETS`), in order."""
    if isinstance(sets, str) or not sets:
        raise ValueError(f"mol:rdkit: sets must be a non-empty tuple of names from "
                         f"{sorted(RDKIT_SETS)}, got sets={sets!r}.")
    return tuple(m for s in sets for m in read_rdkit_set(s))


__all__ = ["RDKIT_DEFAULT_SETS", "RDKIT_SETS", "SPLITS", "read_g2", "read_rdkit",
           "read_rdkit_set", "split_indices"]
