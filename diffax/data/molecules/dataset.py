"""Molecules as fixed-size padded arrays: positions, atom types and a node mask.

A molecule of ``n`` atoms (hydrogens included, as in QM9 for EDM, Hoogeboom et al.
2022) is stored in ``N = max_atoms`` rows; rows ``n..N-1`` are padding. One example is

* ``"x"``: ``float32`` (N, 3 + F [+ 1]): the positions in Angstrom, centred so that the
  mean over the real atoms is zero, then the one-hot atom type over the set's ``F``
  elements (``elements``, sorted by atomic number), then, with ``include_charges``, the
  atomic number ("charge", EDM's integer feature h_int: the nuclear charge, not a formal
  charge) as a float; padding rows are all zero;
* ``"node_mask"``: ``float32`` (N,), 1 on real atoms and 0 on padding.

:func:`pack` builds a :class:`MoleculeDataset` from :class:`Molecule` records and
rejects bad input (no atoms, no or non-finite coordinates, unknown atom types, too many
atoms) with a message naming the molecule.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple, Sequence

import numpy as np

from diffax import checks
from diffax.data.base import ArraySpec
from diffax.data.molecules.elements import atomic_number, symbol


class Molecule(NamedTuple):
    """One molecule: ``atomic_numbers`` (n,) ints, ``positions`` (n, 3) in Angstrom."""

    name: str
    atomic_numbers: np.ndarray
    positions: np.ndarray


def check_molecule(mol: Molecule, where: str) -> Molecule:
    """``mol`` with arrays of the right dtype; ValueError naming the molecule and the
    problem for no atoms, missing / misshapen / non-finite coordinates or bad atomic
    numbers."""
    what = f"{where}: molecule {mol.name!r}"
    z = np.asarray(mol.atomic_numbers)
    if z.ndim != 1 or z.size == 0:
        raise ValueError(f"{what} has no atoms (atomic_numbers of shape {z.shape}).")
    if mol.positions is None:
        raise ValueError(f"{what} has no coordinates (positions=None); 3-D positions of "
                         f"shape ({z.size}, 3) are required.")
    pos = np.asarray(mol.positions, dtype=np.float64)
    if pos.shape != (z.size, 3):
        raise ValueError(f"{what}: positions must have shape ({z.size}, 3) (one 3-D "
                         f"coordinate per atom), got shape {pos.shape}.")
    if not np.all(np.isfinite(pos)):
        raise ValueError(f"{what} has non-finite (NaN or inf) coordinates.")
    if not np.issubdtype(z.dtype, np.integer) or z.min() < 1:
        raise ValueError(f"{what}: atomic numbers must be integers >= 1, got {z.tolist()}.")
    return Molecule(str(mol.name), z.astype(np.int32), pos)


def elements_of(molecules: Sequence[Molecule]) -> tuple[str, ...]:
    """The element symbols present in ``molecules``, sorted by atomic number."""
    zs = sorted({int(z) for m in molecules for z in np.asarray(m.atomic_numbers)})
    return tuple(symbol(z) for z in zs)


@dataclasses.dataclass(frozen=True, eq=False)
class MoleculeDataset:
    """Padded molecules behind the :class:`~diffax.data.base.Dataset` protocol (module
    docstring). Build with :func:`pack`.

    Attributes:
      name, split: registry name (``"mol:g2"``) and split.
      positions: ``float32`` (M, N, 3), zero mean over each molecule's real atoms.
      types: ``int32`` (M, N), index into ``elements``; -1 on padding.
      num_atoms: ``int32`` (M,), real atoms per molecule.
      elements: the atom-type vocabulary (element symbols).
      names: a name per molecule (formula, SDF title or QM9 index).
      include_charges: append the atomic number as a last channel of ``"x"``.
    """

    name: str
    split: str
    positions: np.ndarray
    types: np.ndarray
    num_atoms: np.ndarray
    elements: tuple[str, ...]
    names: tuple[str, ...]
    include_charges: bool = False

    num_classes = None
    is_image = False
    mixture = None

    @property
    def num_examples(self) -> int:
        return int(self.positions.shape[0])

    @property
    def max_atoms(self) -> int:
        return int(self.positions.shape[1])

    @property
    def num_types(self) -> int:
        return len(self.elements)

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.max_atoms, 3 + self.num_types + int(self.include_charges))

    @property
    def node_mask(self) -> np.ndarray:
        return (self.types >= 0).astype(np.float32)

    @property
    def atomic_numbers(self) -> np.ndarray:
        """``int32`` (M, N): atomic numbers, 0 on padding."""
        table = np.array([atomic_number(s) for s in self.elements] + [0], np.int32)
        return table[self.types]  # index -1 (padding) picks the trailing 0

    @property
    def x(self) -> np.ndarray:
        """Every example's ``"x"`` (M, N, 3 + F)."""
        return self.get(np.arange(self.num_examples))["x"]

    @property
    def element_spec(self) -> dict[str, ArraySpec]:
        return {"x": ArraySpec(self.shape, np.dtype(np.float32)),
                "node_mask": ArraySpec((self.max_atoms,), np.dtype(np.float32))}

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        indices = np.asarray(indices)
        types = self.types[indices]
        one_hot = (types[..., None] == np.arange(self.num_types)).astype(np.float32)
        parts = [self.positions[indices], one_hot]
        if self.include_charges:
            table = np.array([atomic_number(s) for s in self.elements] + [0], np.float32)
            parts.append(table[types][..., None])  # index -1 (padding) picks the 0
        x = np.concatenate(parts, axis=-1)
        return {"x": x, "node_mask": (types >= 0).astype(np.float32)}

    def atom_count_histogram(self) -> np.ndarray:
        """``counts[n]``: molecules with ``n`` atoms, ``n = 0..max_atoms``."""
        return np.bincount(self.num_atoms, minlength=self.max_atoms + 1)


def pack(molecules: Sequence[Molecule], *, name: str, split: str,
         elements: Sequence[str], max_atoms: int,
         include_charges: bool = False) -> MoleculeDataset:
    """Pad ``molecules`` to ``max_atoms`` rows with one-hot types over ``elements`` (and
    the atomic number as a last channel with ``include_charges``).

    Raises:
      ValueError: no molecules, or a molecule with no atoms, no / non-finite
        coordinates, an element outside ``elements`` or more than ``max_atoms`` atoms.
    """
    where = f"{name} (split {split!r})"
    if len(molecules) == 0:
        raise ValueError(f"{where}: no molecules.")
    elements = tuple(elements)
    index = {atomic_number(s): i for i, s in enumerate(elements)}
    m = len(molecules)
    positions = np.zeros((m, max_atoms, 3), np.float32)
    types = np.full((m, max_atoms), -1, np.int32)
    counts = np.zeros(m, np.int32)
    for i, mol in enumerate(molecules):
        mol = check_molecule(mol, where)
        n = mol.atomic_numbers.size
        if n > max_atoms:
            raise ValueError(f"{where}: molecule {mol.name!r} has {n} atoms, more than "
                             f"max_atoms={max_atoms}; raise max_atoms.")
        unknown = sorted({symbol(z) for z in mol.atomic_numbers.tolist()} - set(elements))
        if unknown:
            raise ValueError(f"{where}: molecule {mol.name!r} has unknown atom type(s) "
                             f"{unknown}; valid atom types: {list(elements)}.")
        centred = mol.positions - mol.positions.mean(axis=0)
        positions[i, :n] = centred
        types[i, :n] = [index[int(z)] for z in mol.atomic_numbers]
        counts[i] = n
    return MoleculeDataset(name, split, positions, types, counts, elements,
                           tuple(str(mol.name) for mol in molecules),
                           checks.boolean(where, "include_charges", include_charges))


__all__ = ["Molecule", "MoleculeDataset", "check_molecule", "elements_of", "pack"]
