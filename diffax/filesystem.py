"""One file-system layer for everything a run reads and writes.

Local paths, ``gs://`` buckets (and any other scheme that ``etils.epath`` resolves through
fsspec, e.g. ``s3://``) go through the same functions, so a workdir on a bucket keeps
checkpoints, ``metrics.jsonl``, TensorBoard events, sample grids and evaluation JSON on
the bucket, and a recreated (preempted) VM resumes from there. Never use ``os.path`` or
``open`` on a run path: ``os.path.abspath("gs://b/run")`` is ``<cwd>/gs:/b/run``.

Object stores have no append and no rename-in-place: :func:`append_text` rewrites the
object on those (the files appended to, like ``metrics.jsonl``, stay small), and the
TensorBoard writer registered by :func:`tensorboard_logdir` rewrites its event file at
every flush. ``gs://`` needs ``gcsfs`` (``pip install 'diffax[gcs]'``); orbax itself
writes array data to ``gs://`` through TensorStore's native GCS driver.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any

from etils import epath

PathLike = str | os.PathLike


def is_remote(path: PathLike) -> bool:
    """True for URLs with a scheme (``gs://``, ``s3://``, ...), False for local paths."""
    return "://" in os.fspath(path)


def as_path(path: PathLike) -> epath.Path:
    """``path`` as an ``epath.Path``: URLs unchanged, local paths made absolute."""
    path = os.fspath(path)
    return epath.Path(path if is_remote(path) else os.path.abspath(path))


def join(base: PathLike, *parts: str) -> str:
    """``base/part/...`` as a string; keeps the scheme of a URL (``os.path.join`` does too,
    but ``os.path.normpath`` and ``abspath`` do not)."""
    return os.fspath(epath.Path(os.fspath(base)).joinpath(*parts))


def exists(path: PathLike) -> bool:
    return as_path(path).exists()


def makedirs(path: PathLike) -> None:
    """Create ``path`` and its parents (a no-op on object stores, where folders are
    prefixes)."""
    as_path(path).mkdir(parents=True, exist_ok=True)


def read_bytes(path: PathLike) -> bytes:
    return as_path(path).read_bytes()


def read_text(path: PathLike) -> str:
    return as_path(path).read_text()


def write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path``, creating the parent folder."""
    p = as_path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)


def write_text(path: PathLike, text: str) -> None:
    write_bytes(path, text.encode())


def write_json(path: PathLike, payload: Any, *, indent: int = 2) -> None:
    write_text(path, json.dumps(payload, indent=indent, sort_keys=True))


def append_text(path: PathLike, text: str) -> None:
    """Append ``text`` to ``path`` (created if missing). Local files are opened in append
    mode; objects in a bucket are read and rewritten, since object stores cannot append."""
    p = as_path(path)
    if not is_remote(path):
        p.parent.mkdir(parents=True, exist_ok=True)
        with p.open("a") as f:
            f.write(text)
        return
    old = p.read_text() if p.exists() else ""
    write_text(p, old + text)


def save_png(image: Any, path: PathLike) -> None:
    """Write a PIL image (or an (H, W[, C]) uint8 array) to ``path`` as PNG."""
    from PIL import Image
    import numpy as np

    if not isinstance(image, Image.Image):
        a = np.asarray(image)
        image = Image.fromarray(a[..., 0] if a.ndim == 3 and a.shape[-1] == 1 else a)
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    write_bytes(path, buf.getvalue())


def save_npz(path: PathLike, **arrays: Any) -> None:
    """``np.savez_compressed`` to any path."""
    import numpy as np

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_bytes(path, buf.getvalue())


class _RewritingEventFile:
    """A TensorBoard event file on an object store: records are buffered and the whole
    object is rewritten at every flush (objects cannot be appended to)."""

    def __init__(self, path: str):
        self.path = path
        self.buffer = bytearray()
        self.dirty = False

    def write(self, data: bytes) -> None:
        self.buffer += data
        self.dirty = True

    def flush(self) -> None:
        if self.dirty:
            write_bytes(self.path, bytes(self.buffer))
            self.dirty = False

    def close(self) -> None:
        self.flush()


class _RewritingWriterFactory:
    def open(self, path: str) -> _RewritingEventFile:
        return _RewritingEventFile(path)

    def directory_check(self, path: str) -> None:
        makedirs(path)


def tensorboard_logdir(path: PathLike) -> str:
    """``path`` as a tensorboardX ``logdir``: for a URL, tensorboardX is told to write
    event files through this layer (its own ``gs://`` writer needs google-cloud-storage)."""
    path = os.fspath(path)
    if is_remote(path):
        from tensorboardX import record_writer

        record_writer.register_writer_factory(path.split("://", 1)[0], _RewritingWriterFactory())
    return path


__all__ = ["append_text", "as_path", "exists", "is_remote", "join", "makedirs", "read_bytes",
           "read_text", "save_npz", "save_png", "tensorboard_logdir", "write_bytes",
           "write_json", "write_text"]
