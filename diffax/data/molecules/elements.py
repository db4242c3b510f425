"""Chemical element symbols and atomic numbers (H to Rn), for atom-type vocabularies."""

from __future__ import annotations

_SYMBOLS = (
    "H He Li Be B C N O F Ne Na Mg Al Si P S Cl Ar K Ca Sc Ti V Cr Mn Fe Co Ni Cu Zn Ga Ge "
    "As Se Br Kr Rb Sr Y Zr Nb Mo Tc Ru Rh Pd Ag Cd In Sn Sb Te I Xe Cs Ba La Ce Pr Nd Pm "
    "Sm Eu Gd Tb Dy Ho Er Tm Yb Lu Hf Ta W Re Os Ir Pt Au Hg Tl Pb Bi Po At Rn").split()

#: ``SYMBOLS[z - 1]`` is the symbol of atomic number ``z``.
SYMBOLS: tuple[str, ...] = tuple(_SYMBOLS)
#: atomic number of each symbol.
ATOMIC_NUMBERS: dict[str, int] = {s: i + 1 for i, s in enumerate(SYMBOLS)}


def symbol(z: int) -> str:
    """The symbol of atomic number ``z`` (ValueError outside 1..86)."""
    if not 1 <= int(z) <= len(SYMBOLS):
        raise ValueError(f"atomic number must be in [1, {len(SYMBOLS)}], got z={z!r}.")
    return SYMBOLS[int(z) - 1]


def atomic_number(sym: str) -> int:
    """The atomic number of element ``sym`` (ValueError naming the symbol otherwise)."""
    try:
        return ATOMIC_NUMBERS[sym]
    except KeyError:
        raise ValueError(f"unknown chemical element {sym!r}; known: H, He, ..., Rn "
                         f"(case-sensitive, e.g. 'Cl').") from None


__all__ = ["ATOMIC_NUMBERS", "SYMBOLS", "atomic_number", "symbol"]
