"""Molecules with 3-D coordinates and atom types (hydrogens kept), padded to a fixed atom
count with a node mask: ``"mol:g2"`` (ase), ``"mol:rdkit"`` (rdkit's 3-D SDF sets) and
``"mol:qm9"`` (a local folder). See docs/molecules.md."""

from diffax.data.molecules.dataset import (Molecule, MoleculeDataset, check_molecule,
                                           elements_of, pack)
from diffax.data.molecules.elements import ATOMIC_NUMBERS, SYMBOLS, atomic_number, symbol
from diffax.data.molecules.loader import (MOL_PREFIX, SOURCES, load_molecules,
                                          molecule_loaders)
from diffax.data.molecules.qm9 import parse_xyz, read_qm9
from diffax.data.molecules.sources import RDKIT_SETS, read_g2, read_rdkit, split_indices

__all__ = ["ATOMIC_NUMBERS", "MOL_PREFIX", "Molecule", "MoleculeDataset", "RDKIT_SETS",
           "SOURCES", "SYMBOLS", "atomic_number", "check_molecule", "elements_of",
           "load_molecules", "molecule_loaders", "pack", "parse_xyz", "read_g2", "read_qm9",
           "read_rdkit", "split_indices", "symbol"]
