"""Quality of generated 3-D molecules: atom and molecule stability, validity and
uniqueness, as in EDM (Hoogeboom et al. 2022, "Equivariant Diffusion for Molecule
Generation in 3D", section 5 and appendix).

**Bonds from distances.** For atoms a, b at distance d (in pm), with the typical single,
double and triple bond lengths l1, l2, l3 of the pair (EDM's tables, from
wiredchemist.com and chemistry-reference.com; :data:`SINGLE`, :data:`DOUBLE`,
:data:`TRIPLE`) and margins (10, 5, 3) pm tuned by EDM on QM9:

    order = 3 if d < l3 + 3,  2 if d < l2 + 5,  1 if d < l1 + 10,  else 0

(a shorter bond is only tried where the pair has that bond type; a pair absent from the
single-bond table never bonds).

**Stability.** An atom is stable when the sum of its bond orders is an allowed valence
of its element (:data:`VALENCES`: H 1, C 4, N 3, O 2, F 1, P 3 or 5, S 4, ...; an element
without an entry is never stable); a molecule is stable when all its atoms are.
``atom_stability`` is the fraction of stable atoms over all generated atoms,
``molecule_stability`` the fraction of stable molecules.

**Validity and uniqueness** (through rdkit): the molecule with these atoms and bonds is
built and sanitised (``Chem.SanitizeMol``); it is valid when that succeeds. Its canonical
SMILES is that of the largest fragment (as EDM); ``uniqueness`` is the fraction of
distinct SMILES among the valid molecules; ``connected`` the fraction of valid molecules
in one fragment.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

# typical bond lengths in pm (EDM's qm9/bond_analyze.py tables), one entry per pair
_SINGLE = """
H-H 74 H-C 109 H-N 101 H-O 96 H-F 92 H-B 119 H-Si 148 H-P 144 H-As 152 H-S 134 H-Cl 127
H-Br 141 H-I 161 C-C 154 C-N 147 C-O 143 C-F 135 C-Si 185 C-P 184 C-S 182 C-Cl 177
C-Br 194 C-I 214 N-N 145 N-O 140 N-F 136 N-Cl 175 N-Br 214 N-S 168 N-I 222 N-P 177
O-O 148 O-F 142 O-Br 172 O-S 151 O-P 163 O-Si 163 O-Cl 164 O-I 194 F-F 142 F-S 158
F-Si 160 F-Cl 166 F-Br 178 F-P 156 F-I 187 B-Cl 175 Si-Si 233 Si-S 200 Si-Cl 202
Si-Br 215 Si-I 243 Cl-Cl 199 Cl-P 203 Cl-S 207 Cl-Br 214 S-S 204 S-Br 225 S-P 210
S-I 234 Br-Br 228 Br-P 222 P-P 221 I-I 266
"""
_DOUBLE = "C-C 134 C-N 129 C-O 120 C-S 160 N-N 125 N-O 121 O-O 121 O-P 150 P-S 186"
_TRIPLE = "C-C 120 C-N 116 C-O 113 N-N 110"
#: margins (pm) added to the single, double and triple bond lengths.
MARGINS = (10.0, 5.0, 3.0)
#: allowed valences (sum of bond orders) per element.
VALENCES: dict[str, tuple[int, ...]] = {
    "H": (1,), "C": (4,), "N": (3,), "O": (2,), "F": (1,), "B": (3,), "Al": (3,),
    "Si": (4,), "P": (3, 5), "S": (4,), "Cl": (1,), "As": (3,), "Br": (1,), "I": (1,),
    "Hg": (1, 2), "Bi": (3, 5)}


def _table(text: str) -> dict[frozenset, float]:
    tokens = text.split()
    return {frozenset(p.split("-")): float(v) for p, v in zip(tokens[::2], tokens[1::2])}


SINGLE = _table(_SINGLE)
DOUBLE = _table(_DOUBLE)
TRIPLE = _table(_TRIPLE)


def bond_order(a: str, b: str, distance: float) -> int:
    """EDM's bond order (0-3) of elements ``a``, ``b`` at ``distance`` Angstrom."""
    pair = frozenset((a, b))
    d = 100.0 * float(distance)
    if pair not in SINGLE or d >= SINGLE[pair] + MARGINS[0]:
        return 0
    if pair in DOUBLE and d < DOUBLE[pair] + MARGINS[1]:
        if pair in TRIPLE and d < TRIPLE[pair] + MARGINS[2]:
            return 3
        return 2
    return 1


def bond_orders(symbols: Sequence[str], positions: np.ndarray) -> np.ndarray:
    """(n, n) symmetric integer bond-order matrix of a molecule (zero diagonal)."""
    pos = np.asarray(positions, np.float64)
    dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    n = len(symbols)
    orders = np.zeros((n, n), np.int32)
    for i in range(n):
        for j in range(i + 1, n):
            orders[i, j] = orders[j, i] = bond_order(symbols[i], symbols[j], dist[i, j])
    return orders


def stable_atoms(symbols: Sequence[str], orders: np.ndarray) -> np.ndarray:
    """Boolean (n,): the atoms whose valence (sum of bond orders) is allowed."""
    valence = np.asarray(orders).sum(axis=1)
    return np.array([int(v) in VALENCES.get(s, ()) for s, v in zip(symbols, valence)], bool)


def to_rdkit(symbols: Sequence[str], orders: np.ndarray):
    """The sanitised rdkit molecule with these atoms and bonds, or None when rdkit
    rejects it (e.g. a valence rdkit does not allow)."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    kinds = {1: Chem.BondType.SINGLE, 2: Chem.BondType.DOUBLE, 3: Chem.BondType.TRIPLE}
    mol = Chem.RWMol()
    for s in symbols:
        mol.AddAtom(Chem.Atom(s))
    for i, j in zip(*np.nonzero(np.triu(orders))):
        mol.AddBond(int(i), int(j), kinds[int(orders[i, j])])
    try:
        Chem.SanitizeMol(mol)
    except Exception:  # rdkit raises several error types (valence, kekulisation)
        return None
    return mol.GetMol()


def largest_fragment_smiles(mol) -> tuple[str, int]:
    """(canonical SMILES of the largest fragment, number of fragments)."""
    from rdkit import Chem

    frags = Chem.GetMolFrags(mol, asMols=True, sanitizeFrags=False)
    largest = max(frags, key=lambda m: m.GetNumAtoms())
    return Chem.MolToSmiles(largest), len(frags)


def molecule_metrics(positions: np.ndarray, types: np.ndarray, node_mask: np.ndarray,
                     elements: Sequence[str]) -> dict:
    """EDM's metrics of M molecules (module docstring).

    Args:
      positions: (M, N, 3) in Angstrom; types: (M, N) indices into ``elements``;
      node_mask: (M, N), 1 on real atoms.

    Returns: ``atom_stability``, ``molecule_stability``, ``validity``, ``uniqueness``
    (among valid), ``connected`` (among valid), ``num_molecules`` and ``stable`` (M,)
    bools per molecule.
    """
    positions, types = np.asarray(positions), np.asarray(types)
    node_mask = np.asarray(node_mask) > 0.5
    if positions.ndim != 3 or positions.shape[-1] != 3:
        raise ValueError(f"molecule_metrics: positions must have shape (M, N, 3), got "
                         f"{positions.shape}.")
    if types.shape != positions.shape[:2] or node_mask.shape != positions.shape[:2]:
        raise ValueError(f"molecule_metrics: types {types.shape} and node_mask "
                         f"{node_mask.shape} must have shape {positions.shape[:2]}.")
    if not np.all(np.isfinite(positions[node_mask])):
        raise ValueError("molecule_metrics: positions of real atoms are not finite.")
    n_atoms = n_stable_atoms = 0
    stable, smiles, connected = [], [], 0
    for pos, typ, mask in zip(positions, types, node_mask):
        symbols = [elements[int(k)] for k in typ[mask]]
        orders = bond_orders(symbols, pos[mask])
        ok = stable_atoms(symbols, orders)
        n_atoms += len(ok)
        n_stable_atoms += int(ok.sum())
        stable.append(bool(ok.all()) and len(ok) > 0)
        mol = to_rdkit(symbols, orders) if symbols else None
        if mol is not None:
            smi, frags = largest_fragment_smiles(mol)
            smiles.append(smi)
            connected += frags == 1
    m = len(positions)
    valid = len(smiles)
    return {"atom_stability": n_stable_atoms / max(n_atoms, 1),
            "molecule_stability": float(np.mean(stable)) if m else 0.0,
            "validity": valid / max(m, 1),
            "uniqueness": len(set(smiles)) / valid if valid else 0.0,
            "connected": connected / valid if valid else 0.0,
            "num_molecules": m, "stable": np.array(stable, bool)}


__all__ = ["DOUBLE", "MARGINS", "SINGLE", "TRIPLE", "VALENCES", "bond_order", "bond_orders",
           "largest_fragment_smiles", "molecule_metrics", "stable_atoms", "to_rdkit"]
