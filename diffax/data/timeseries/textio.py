"""Small text helpers shared by the time-series readers: CSV tables, dates, files.

Files are read through :mod:`diffax.filesystem`, so local paths and ``gs://`` URLs work
alike. Numbers are parsed with NumPy where possible; missing-value spellings (empty,
``nan``, ``NA``, ``null``, ``?``) become ``NaN``.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime
import io
import re

import numpy as np

from diffax import filesystem

#: Cell values read as a missing number (compared in lower case).
MISSING_TOKENS = frozenset({"", "nan", "na", "n/a", "null", "none", "?"})

_DATE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})"
                   r"(?:[ T](\d{1,2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?$")
_EPOCH = datetime.datetime(1970, 1, 1)


def parse_datetime(text: str) -> float:
    """Seconds since 1970-01-01 00:00 of a date ``YYYY-MM-DD[ HH:MM[:SS[.fff]]]`` (``/``
    separators, one-digit months/days/hours and a ``T`` separator are accepted; no time
    zones: the clock time is taken as written)."""
    match = _DATE.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a date YYYY-MM-DD[ HH:MM[:SS]].")
    y, mo, d, h, mi, s, frac = match.groups()
    stamp = datetime.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))
    return (stamp - _EPOCH).total_seconds() + (float(frac) if frac else 0.0)


def require_file(path: str, what: str, how: str) -> str:
    """``path`` if it exists; otherwise ``FileNotFoundError`` naming ``what``, the path and
    ``how`` to get it."""
    if not filesystem.exists(path):
        raise FileNotFoundError(f"{what}: {path!r} not found. {how}")
    return path


def to_float(cells: np.ndarray | list, source: str, names: list[str] | None = None
             ) -> np.ndarray:
    """``float64`` array of string ``cells`` (2-D: rows x columns), ``NaN`` for the
    :data:`MISSING_TOKENS`; a ``ValueError`` names the first cell that is not a number."""
    cells = np.asarray(cells, dtype=str)
    try:
        return cells.astype(np.float64)
    except ValueError:
        pass
    cleaned = np.char.strip(cells)
    cleaned = np.where(np.isin(np.char.lower(cleaned), list(MISSING_TOKENS)), "nan", cleaned)
    try:
        return cleaned.astype(np.float64)
    except ValueError:
        pass
    for index, token in np.ndenumerate(cleaned):  # only to name the bad cell
        try:
            float(token)
        except ValueError:
            row, col = index if len(index) == 2 else (index[0], 0)
            column = f"column {names[col]!r}" if names else f"column {col + 1}"
            raise ValueError(f"{source}: row {row + 1}, {column}: {str(token)!r} is not a "
                             "number.") from None
    raise AssertionError("unreachable")  # pragma: no cover


@dataclasses.dataclass(frozen=True)
class Table:
    """A CSV file as strings: ``columns`` (the header) and ``cells`` (rows x columns)."""

    source: str
    columns: tuple[str, ...]
    cells: np.ndarray

    def column_index(self, name: str) -> int:
        if name not in self.columns:
            raise ValueError(f"{self.source}: unknown column {name!r}; the file has columns "
                             f"{list(self.columns)}.")
        return self.columns.index(name)

    def strings(self, name: str) -> list[str]:
        return [str(v).strip() for v in self.cells[:, self.column_index(name)]]

    def numbers(self, names: list[str] | tuple[str, ...]) -> np.ndarray:
        """``float64`` (rows, len(names)) of the named columns, ``NaN`` where missing."""
        idx = [self.column_index(n) for n in names]
        return to_float(self.cells[:, idx], self.source, list(names))


def parse_csv(text: str, source: str, *, header: bool = True) -> Table:
    """A comma-separated table (quoted fields allowed). Without a header the columns are
    named ``"0"``, ``"1"``, ...; every row must have as many fields as the first. Blank
    lines are skipped; a row of empty fields is kept (all missing)."""
    rows = [r for r in csv.reader(io.StringIO(text)) if len(r) > 1 or (r and r[0].strip())]
    if header:
        if not rows:
            raise ValueError(f"{source}: the file is empty (expected a header line).")
        columns, rows = tuple(c.strip() for c in rows[0]), rows[1:]
    else:
        columns = tuple(str(i) for i in range(len(rows[0]))) if rows else ()
    if not rows:
        raise ValueError(f"{source}: the file has no data rows.")
    for number, row in enumerate(rows):
        if len(row) != len(columns):
            line = number + (2 if header else 1)
            raise ValueError(f"{source}, line {line}: {len(row)} fields, expected "
                             f"{len(columns)}.")
    return Table(source, columns, np.array(rows, dtype=str))


def parse_numeric_csv(text: str, source: str, *, header: bool = True
                      ) -> tuple[tuple[str, ...], np.ndarray]:
    """``(columns, float64 values (rows, columns))`` of a table whose cells are all
    numbers or empty (``NaN``): the fast path for long sensor files (NumPy's C parser).
    Any other table goes through :func:`parse_csv` (other missing spellings, precise
    error messages)."""
    lines = [line for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
    if len(lines) > int(header):
        first = next(csv.reader([lines[0]]))
        columns = (tuple(c.strip() for c in first) if header
                   else tuple(str(i) for i in range(len(first))))
        body = "\n" + "\n".join(lines[int(header):]) + "\n"
        # empty fields -> nan (two passes fill runs of empty fields)
        body = body.replace(",,", ",nan,").replace(",,", ",nan,")
        body = body.replace("\n,", "\nnan,").replace(",\n", ",nan\n")
        try:
            values = np.loadtxt(io.StringIO(body), delimiter=",", dtype=np.float64, ndmin=2,
                                comments=None)
            if values.shape[1] == len(columns):
                return columns, values
        except ValueError:
            pass
    table = parse_csv(text, source, header=header)
    return table.columns, table.numbers(table.columns)


def read_numeric_csv(path: str, *, header: bool = True) -> tuple[tuple[str, ...], np.ndarray]:
    """:func:`parse_numeric_csv` of the file at ``path`` (local or ``gs://``)."""
    return parse_numeric_csv(filesystem.read_text(path), str(path), header=header)


def read_csv(path: str, *, header: bool = True) -> Table:
    """:func:`parse_csv` of the file at ``path`` (local or ``gs://``)."""
    return parse_csv(filesystem.read_text(path), str(path), header=header)


__all__ = ["MISSING_TOKENS", "Table", "parse_csv", "parse_datetime", "parse_numeric_csv",
           "read_csv", "read_numeric_csv", "require_file", "to_float"]
