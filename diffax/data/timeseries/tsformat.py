"""Reader and writer of the ``.ts`` text format of the UCR/UEA time-series archives.

The format (used by the UCR archive, Dau et al. 2019, and the UEA multivariate archive,
Bagnall et al. 2018, as distributed by sktime/aeon) is a header of ``@`` tags followed by
``@data`` and one line per series::

    # comment lines start with '#' (some files use '%')
    @problemName GunPoint
    @timeStamps false
    @missing false
    @univariate true          (or false, with @dimensions K)
    @equalLength true
    @seriesLength 150
    @classLabel true 1 2      (the class names; or @classLabel false)
    @data
    -0.64,-0.64,...,-0.65:2

A line holds the channels ("dimensions") separated by ``:``, each a comma-separated list
of values (``?`` is a missing value), then the class label when ``@classLabel true``.
With ``@timeStamps true`` a channel is a list of ``(time,value)`` pairs, the time a
number or a date ``YYYY-MM-DD[ HH:MM[:SS]]``. Series may have different lengths
(``@equalLength false``); channels of one series that differ in length are padded at the
end with ``NaN`` (with timestamps, they are aligned on the union of their times).
Regression files (``@targetLabel true``) are not supported.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from diffax import filesystem
from diffax.data.timeseries.textio import parse_datetime

_BOOL_TAGS = ("timestamps", "missing", "univariate", "equallength")
_INT_TAGS = ("dimensions", "serieslength")


@dataclasses.dataclass(frozen=True)
class TsData:
    """A parsed ``.ts`` file.

    Attributes:
      problem_name: the ``@problemName`` (None if absent).
      series: ``float64`` arrays of shape ``(length_i, K)``, ``NaN`` for ``?``.
      labels: the class index of each series in ``class_names`` (``int64`` (N,)), or None.
      class_names: the ``@classLabel`` names in header order, or None.
      times: with ``@timeStamps true``, the ``float64`` ``(length_i,)`` times of each
        series (numbers as written; dates in seconds since 1970-01-01), else None.
      header: every header tag (lower case, without ``@``) with its raw value.
    """

    problem_name: str | None
    series: list[np.ndarray]
    labels: np.ndarray | None
    class_names: tuple[str, ...] | None
    times: list[np.ndarray] | None
    header: dict[str, str]


class TsFormatError(ValueError):
    """A ``.ts`` file that does not follow the format (the message names the line)."""


def _split_top(text: str, sep: str) -> list[str]:
    """``text.split(sep)`` ignoring separators inside parentheses (timestamps hold ':')."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts


def _value(token: str, where: str) -> float:
    token = token.strip()
    if token == "?":
        return math.nan
    try:
        return float(token)
    except ValueError:
        raise TsFormatError(f"{where}: {token!r} is not a number or '?'.") from None


def _time(token: str, where: str) -> float:
    token = token.strip()
    try:
        return float(token)
    except ValueError:
        pass
    try:
        return parse_datetime(token)
    except ValueError:
        raise TsFormatError(f"{where}: timestamp {token!r} is neither a number nor a date "
                            "YYYY-MM-DD[ HH:MM[:SS]].") from None


def _channel(text: str, timestamps: bool, where: str) -> tuple[np.ndarray, np.ndarray | None]:
    text = text.strip()
    if not text:
        raise TsFormatError(f"{where}: empty channel.")
    if not timestamps:
        return np.array([_value(t, where) for t in text.split(",")]), None
    times, values = [], []
    for pair in (p.strip() for p in _split_top(text, ",")):
        time, comma, value = pair[1:-1].rpartition(",")
        if not (pair.startswith("(") and pair.endswith(")") and comma):
            raise TsFormatError(f"{where}: timestamped channels must be (time,value) pairs, "
                                f"got {pair[:60]!r}.")
        times.append(_time(time, where))
        values.append(_value(value, where))
    return np.array(values), np.array(times)


def _merge(channels: list[tuple[np.ndarray, np.ndarray | None]], where: str
           ) -> tuple[np.ndarray, np.ndarray | None]:
    """Stack channels into (length, K): pad at the end, or align on the union of times."""
    if channels[0][1] is None:
        length = max(v.size for v, _ in channels)
        out = np.full((length, len(channels)), np.nan)
        for k, (v, _) in enumerate(channels):
            out[:v.size, k] = v
        return out, None
    for v, t in channels:
        if np.any(np.diff(t) <= 0):
            raise TsFormatError(f"{where}: timestamps must increase within a channel.")
    times = np.unique(np.concatenate([t for _, t in channels]))
    out = np.full((times.size, len(channels)), np.nan)
    for k, (v, t) in enumerate(channels):
        out[np.searchsorted(times, t), k] = v
    return out, times


def _read_header(lines: list[str], source: str) -> tuple[dict[str, str], int]:
    header: dict[str, str] = {}
    for number, raw in enumerate(lines):
        line = raw.strip()
        if not line or line[0] in "#%":
            continue
        if not line.startswith("@"):
            raise TsFormatError(f"{source}, line {number + 1}: expected a header tag "
                                f"'@...' or '@data' before the data, got {line[:40]!r}.")
        tag, *rest = line[1:].split(None, 1) or [""]
        tag, value = tag.lower(), rest[0] if rest else ""
        if tag == "data":
            return header, number + 1
        header[tag] = value.strip()
    raise TsFormatError(f"{source}: no '@data' line.")


def _flag(header: dict[str, str], tag: str, source: str) -> bool | None:
    if tag not in header:
        return None
    word = header[tag].split()[0].lower() if header[tag] else ""
    if word not in ("true", "false"):
        raise TsFormatError(f"{source}: @{tag} must be true or false, got {header[tag]!r}.")
    return word == "true"


def parse_ts(text: str, source: str = "<string>") -> TsData:
    """Parse the text of a ``.ts`` file (``source`` names it in error messages).

    Raises:
      TsFormatError: a malformed header or data line, a label not declared in
        ``@classLabel``, a channel count or length that contradicts the header.
    """
    lines = text.splitlines()
    header, first = _read_header(lines, source)
    flags = {tag: _flag(header, tag, source) for tag in _BOOL_TAGS}
    ints = {}
    for tag in _INT_TAGS:
        if tag in header:
            try:
                ints[tag] = int(header[tag])
            except ValueError:
                raise TsFormatError(f"{source}: @{tag} must be an integer, got "
                                    f"{header[tag]!r}.") from None
    if _flag({"t": header.get("targetlabel", "false")}, "t", source):
        raise TsFormatError(f"{source}: regression files (@targetLabel true) are not "
                            "supported; only classification or unlabelled files.")
    class_words = header.get("classlabel", "false").split()
    has_labels = _flag({"c": class_words[0] if class_words else "false"}, "c", source)
    class_names = tuple(class_words[1:]) if has_labels else None
    if has_labels and not class_names:
        raise TsFormatError(f"{source}: @classLabel true must list the class names.")
    dims = 1 if flags["univariate"] else ints.get("dimensions")
    timestamps = bool(flags["timestamps"])

    series, labels, times = [], [], []
    for number in range(first, len(lines)):
        line = lines[number].strip()
        if not line or line[0] in "#%":
            continue
        where = f"{source}, line {number + 1}"
        fields = _split_top(line, ":")
        if has_labels:
            label = fields.pop().strip()
            if label not in class_names:
                raise TsFormatError(f"{where}: class label {label!r} is not one of the "
                                    f"@classLabel names {list(class_names)}.")
            labels.append(class_names.index(label))
        if dims is None:
            dims = len(fields)
        if len(fields) != dims:
            raise TsFormatError(f"{where}: expected {dims} channel(s) separated by ':', got "
                                f"{len(fields)}.")
        values, t = _merge([_channel(f, timestamps, where) for f in fields], where)
        if flags["equallength"] and "serieslength" in ints and len(values) != ints[
                "serieslength"]:
            raise TsFormatError(f"{where}: series of length {len(values)}, but the header "
                                f"says @seriesLength {ints['serieslength']}.")
        series.append(values)
        times.append(t)
    if not series:
        raise TsFormatError(f"{source}: no series after '@data'.")
    return TsData(problem_name=header.get("problemname") or None, series=series,
                  labels=np.array(labels, dtype=np.int64) if has_labels else None,
                  class_names=class_names, times=times if timestamps else None,
                  header=header)


def read_ts(path: filesystem.PathLike) -> TsData:
    """Parse the ``.ts`` file at ``path`` (local or ``gs://``)."""
    return parse_ts(filesystem.read_text(path), source=str(path))


def _format_value(v: float) -> str:
    return "?" if math.isnan(v) else repr(float(v))


def format_ts(series: list[np.ndarray], *, problem_name: str = "series",
              labels: np.ndarray | None = None,
              class_names: tuple[str, ...] | None = None) -> str:
    """The ``.ts`` text of ``series`` (``(length_i, K)`` arrays, ``NaN`` written as ``?``)
    with optional class ``labels`` (indices into ``class_names``); ``parse_ts`` reads it
    back exactly (values are written with ``repr``)."""
    arrays = [np.asarray(s, dtype=np.float64) for s in series]
    if not arrays or any(a.ndim != 2 for a in arrays) or len({a.shape[1] for a in arrays}) > 1:
        raise ValueError("format_ts: series must be a non-empty list of (length, K) arrays "
                         "with the same K.")
    if (labels is None) != (class_names is None):
        raise ValueError("format_ts: pass both labels and class_names or neither.")
    k = arrays[0].shape[1]
    lengths = {a.shape[0] for a in arrays}
    head = [f"@problemName {problem_name}", "@timeStamps false",
            f"@missing {str(any(np.isnan(a).any() for a in arrays)).lower()}",
            f"@univariate {str(k == 1).lower()}"]
    if k > 1:
        head.append(f"@dimensions {k}")
    head.append(f"@equalLength {str(len(lengths) == 1).lower()}")
    if len(lengths) == 1:
        head.append(f"@seriesLength {lengths.pop()}")
    head.append("@classLabel " + ("false" if class_names is None
                                  else "true " + " ".join(class_names)))
    head.append("@data")
    rows = []
    for i, a in enumerate(arrays):
        row = ":".join(",".join(_format_value(v) for v in a[:, c]) for c in range(k))
        if labels is not None:
            row += ":" + class_names[int(labels[i])]
        rows.append(row)
    return "\n".join(head + rows) + "\n"


__all__ = ["TsData", "TsFormatError", "format_ts", "parse_ts", "read_ts"]
