"""Reader for the IDX file format (MNIST, Fashion-MNIST), plain or gzip-compressed.

An IDX file is a big-endian header followed by the raw array:

* bytes 0-1: zero;
* byte 2: the element type code (``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16,
  ``0x0C`` int32, ``0x0D`` float32, ``0x0E`` float64);
* byte 3: the number of dimensions ``ndim``;
* ``ndim`` unsigned 32-bit big-endian sizes, then ``prod(sizes)`` elements, big-endian.

So the MNIST image files start with the magic number ``0x00000803`` (uint8, 3-D) and
the label files with ``0x00000801`` (uint8, 1-D). :func:`read_idx` validates the header
and the payload length and raises ``ValueError`` naming the file on any mismatch.

Gunzipping Fashion-MNIST's training images takes ~0.1 s, and an experiment that builds
several runs (a teacher and its students, a benchmark's chain) reads them once per run, so
:func:`read_idx` keeps the last few arrays it parsed, keyed by the file's path, size and
modification time, and hands out copies.
"""

from __future__ import annotations

import functools
import gzip
import os
import zlib

import numpy as np

#: IDX element-type codes and their (big-endian) numpy dtypes.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def _read_bytes(path: str) -> bytes:
    """The file's bytes, gunzipped when the file is gzip-compressed (by content)."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x1f\x8b":  # not gzip: a plain IDX file
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"IDX file {path!r} is a corrupt or truncated gzip file: {err}") from err


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse the bytes of an IDX file into a native-endian numpy array.

    Args:
      data: the (decompressed) file content.
      name: used in error messages.

    Raises:
      ValueError: bad magic number, unknown type code, or a payload whose length does
        not match the sizes in the header.
    """
    if len(data) < 4:
        raise ValueError(f"IDX file {name!r} is too short ({len(data)} bytes) to hold the "
                         "4-byte magic number.")
    magic = int.from_bytes(data[:4], "big")
    if data[0] != 0 or data[1] != 0:
        raise ValueError(f"IDX file {name!r} has bad magic number 0x{magic:08X}: the first "
                         "two bytes must be zero (e.g. 0x00000803 for MNIST images, "
                         "0x00000801 for labels). Is this an IDX file?")
    code, ndim = data[2], data[3]
    if code not in IDX_DTYPES:
        valid = ", ".join(f"0x{c:02X} ({d.name})" for c, d in IDX_DTYPES.items())
        raise ValueError(f"IDX file {name!r} has unknown element type code 0x{code:02X} "
                         f"(magic 0x{magic:08X}); valid codes: {valid}.")
    if ndim == 0:
        raise ValueError(f"IDX file {name!r} declares 0 dimensions (magic 0x{magic:08X}).")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"IDX file {name!r} is truncated inside its header: {ndim} "
                         f"dimensions need {header} bytes, the file has {len(data)}.")
    shape = tuple(int(s) for s in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    payload = len(data) - header
    if payload != expected:
        raise ValueError(f"IDX file {name!r}: the header declares shape {shape} of "
                         f"{dtype.name} ({expected} bytes of data) but the file holds "
                         f"{payload} bytes after the header (truncated or corrupt).")
    arr = np.frombuffer(data, dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


@functools.lru_cache(maxsize=4)   # Fashion-MNIST's four files
def _parsed(path: str, size: int, mtime_ns: int) -> np.ndarray:
    """The parsed file, kept for its (real path, size, mtime); callers copy it."""
    return parse_idx(_read_bytes(path), path)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (``.gz`` compressed or not) into a new numpy array (module
    docstring: a file read before and unchanged since is copied, not parsed again).

    Raises:
      FileNotFoundError: the file does not exist.
      ValueError: the file is not a valid IDX file (see :func:`parse_idx`).
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"IDX file {path!r} does not exist.")
    stat = os.stat(path)
    return _parsed(os.path.realpath(path), stat.st_size, stat.st_mtime_ns).copy()


__all__ = ["IDX_DTYPES", "parse_idx", "read_idx"]
