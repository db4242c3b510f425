"""The golden file: an ``.npz`` with one array per entry and a ``__meta__`` entry
holding the metadata as JSON."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

from benchmarks.golden.common import Arrays

META_KEY = "__meta__"


def save(path: str, entries: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> None:
    """Write ``entries`` and the JSON ``meta`` to the ``.npz`` file ``path`` (atomically:
    through a temporary file beside it)."""
    if META_KEY in entries:
        raise ValueError(f"save: {META_KEY!r} is reserved for the metadata.")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    payload = {k: entries[k] for k in sorted(entries)}
    payload[META_KEY] = np.asarray(json.dumps(meta, sort_keys=True))
    tmp = path + ".tmp.npz"
    np.savez_compressed(tmp, **payload)
    os.replace(tmp, path)


def load(path: str) -> tuple[Arrays, dict]:
    """``(entries, meta)`` of a file written by :func:`save`."""
    if not os.path.exists(path):
        raise ValueError(f"golden file {path!r} does not exist; record one with "
                         f"'python -m benchmarks.golden record --out {path}'.")
    with np.load(path, allow_pickle=False) as f:
        if META_KEY not in f.files:
            raise ValueError(f"{path!r} has no {META_KEY!r} entry: not a golden-outputs file.")
        meta = json.loads(str(f[META_KEY]))
        entries = {k: f[k] for k in f.files if k != META_KEY}
    return entries, meta
