"""``load_molecules(source, split, ...)`` and the ``"mol:<source>"`` loaders of
:func:`diffax.data.get_dataset`.

Sources: ``"g2"`` and ``"rdkit"`` (offline, :mod:`diffax.data.molecules.sources`) and
``"qm9"`` (a local folder, :mod:`diffax.data.molecules.qm9`). Options:

* ``max_atoms``: rows per example; default: the largest molecule of the source over all
  splits (29 for QM9), so every split has the same shape;
* ``elements``: the one-hot atom-type vocabulary (element symbols); default: every
  element of the source over all splits, by atomic number (QM9: H, C, N, O, F). A
  molecule with an element outside it is a ValueError;
* ``include_charges``: append the atomic number to each atom's features (EDM's integer
  feature; default False here: the molecules task's ``data.include_charges`` decides);
* ``data_dir`` (``"mol:qm9"``, required) and ``sets`` (``"mol:rdkit"``: SDF sets, default
  ``("egfr", "cdk2", "cmet")``).
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

from diffax import checks
from diffax.data.molecules.dataset import MoleculeDataset, elements_of, pack
from diffax.data.molecules.elements import atomic_number
from diffax.data.molecules.qm9 import read_qm9
from diffax.data.molecules.sources import (RDKIT_DEFAULT_SETS, SPLITS, read_g2, read_rdkit,
                                           split_indices)

#: Prefix of the molecule names in :func:`diffax.data.get_dataset`.
MOL_PREFIX = "mol:"
SOURCES = ("g2", "rdkit", "qm9")
QM9_ELEMENTS = ("H", "C", "N", "O", "F")
QM9_MAX_ATOMS = 29


def _check_elements(where: str, elements: Sequence[str]) -> tuple[str, ...]:
    if isinstance(elements, str) or len(elements) == 0:
        raise ValueError(f"{where}: elements must be a non-empty sequence of element "
                         f"symbols such as ('H', 'C', 'N', 'O', 'F'), got {elements!r}.")
    elements = tuple(elements)
    for s in elements:
        atomic_number(s)
    checks.distinct(where, "elements", elements)
    return tuple(sorted(elements, key=atomic_number))


def load_molecules(source: str, split: str = "train", *, max_atoms: int | None = None,
                   elements: Sequence[str] | None = None,
                   data_dir: str | os.PathLike | None = None,
                   sets: tuple[str, ...] = RDKIT_DEFAULT_SETS,
                   include_charges: bool = False) -> MoleculeDataset:
    """Split ``split`` (``"train"``, ``"validation"``, ``"test"``) of ``source`` as a
    :class:`~diffax.data.molecules.dataset.MoleculeDataset` (module docstring for the
    options).

    Raises:
      ValueError: unknown source, split or element; a molecule larger than
        ``max_atoms``, with an element outside ``elements``, without coordinates.
      FileNotFoundError: QM9 files missing (the message says how to get them).
    """
    checks.choice("molecule data", "source", source, SOURCES)
    name = MOL_PREFIX + source
    checks.choice(name, "split", split, SPLITS)
    if source == "qm9":
        molecules = read_qm9(data_dir, split)
        every = None
        default_elements, default_max = QM9_ELEMENTS, QM9_MAX_ATOMS
    else:
        if data_dir is not None:
            raise ValueError(f"{name}: data_dir is only for mol:qm9 (this source ships "
                             f"with an installed package), got data_dir={data_dir!r}.")
        every = read_g2() if source == "g2" else read_rdkit(tuple(sets))
        molecules = [every[i] for i in split_indices(len(every), split, where=name)]
        default_elements = elements_of(every)
        default_max = max(len(m.atomic_numbers) for m in every)
    elements = default_elements if elements is None else _check_elements(name, elements)
    max_atoms = default_max if max_atoms is None else checks.positive_int(
        name, "max_atoms", max_atoms)
    return pack(molecules, name=name, split=split, elements=elements, max_atoms=max_atoms,
                include_charges=include_charges)


def _loader(source: str) -> Callable[..., MoleculeDataset]:
    if source == "rdkit":
        def loader(split: str = "train", *, max_atoms: int | None = None,
                   elements: Sequence[str] | None = None,
                   sets: tuple[str, ...] = RDKIT_DEFAULT_SETS,
                   include_charges: bool = False) -> MoleculeDataset:
            return load_molecules(source, split, max_atoms=max_atoms, elements=elements,
                                  sets=sets, include_charges=include_charges)
    elif source == "qm9":
        def loader(split: str = "train", *, max_atoms: int | None = None,
                   elements: Sequence[str] | None = None,
                   data_dir: str | os.PathLike | None = None,
                   include_charges: bool = False) -> MoleculeDataset:
            return load_molecules(source, split, max_atoms=max_atoms, elements=elements,
                                  data_dir=data_dir, include_charges=include_charges)
    else:
        def loader(split: str = "train", *, max_atoms: int | None = None,
                   elements: Sequence[str] | None = None,
                   include_charges: bool = False) -> MoleculeDataset:
            return load_molecules(source, split, max_atoms=max_atoms, elements=elements,
                                  include_charges=include_charges)
    loader.__name__ = loader.__qualname__ = f"load_{source}"
    loader.__doc__ = (f"The {MOL_PREFIX}{source} molecules (see "
                      "diffax.data.molecules.loader.load_molecules).")
    return loader


def molecule_loaders() -> dict[str, Callable[..., MoleculeDataset]]:
    """``{"mol:<source>": loader}`` for every source, for the data-set registry."""
    return {MOL_PREFIX + s: _loader(s) for s in SOURCES}


__all__ = ["MOL_PREFIX", "QM9_ELEMENTS", "SOURCES", "load_molecules", "molecule_loaders"]
