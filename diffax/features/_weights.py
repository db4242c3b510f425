"""Shared helpers for feature-extractor weight files: their hash and the check that a
flat ``{name: array}`` holds exactly the keys and shapes a network needs."""

from __future__ import annotations

import functools
import hashlib
import os
from typing import Any, Mapping

import numpy as np


def sha256(path: str) -> str:
    """Hex SHA-256 of the file at ``path`` (recorded next to every reported number).

    Read in 1 MiB chunks and remembered per (path, size, modification time), so naming
    the features of a ~95 MB Inception file and then loading it reads it once for the
    hash, and a rewritten file is hashed again."""
    st = os.stat(path)
    return _sha256(os.path.realpath(path), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    del size, mtime_ns  # cache key only
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _listed(keys: list[str], what: str, limit: int = 5) -> str:
    return f"{len(keys)} {what} {keys[:limit]}{'...' if len(keys) > limit else ''}"


def check_weights(params: Mapping[str, Any], shapes: Mapping[str, tuple[int, ...]],
                  source: str, hint: str = "") -> None:
    """Raise ValueError naming ``source`` unless ``params`` has exactly the keys of
    ``shapes`` with those shapes; ``hint`` says how to get correct weights."""
    missing = sorted(set(shapes) - set(params))
    extra = sorted(set(params) - set(shapes))
    if missing or extra:
        raise ValueError(f"{source}: {_listed(missing, 'missing keys')}, "
                         f"{_listed(extra, 'unexpected keys')}.{' ' + hint if hint else ''}")
    for k, shape in shapes.items():
        if tuple(np.shape(params[k])) != tuple(shape):
            raise ValueError(f"{source}: {k} has shape {tuple(np.shape(params[k]))}, "
                             f"expected {tuple(shape)}.")
