"""Preemption-safe, verified checkpoints with orbax, on local disk or a bucket.

``Checkpointer`` wraps ``ocp.CheckpointManager``: periodic saves keeping the newest
``max_to_keep``, restore of the latest step onto the current mesh (abstract targets carry
the shardings), and a refusal to save a state whose run has halted on a non-finite loss.
orbax finalises a step only when it is complete (a rename locally, a commit marker on
``gs://``), so a process killed mid-save leaves the previous checkpoint as the latest.

Integrity is checked here, not left to orbax: orbax restores altered bytes of an
uncompressed chunk without complaint, and fills a missing chunk with zeros. Each step
therefore stores, beside the state (item ``default``), a digest (item ``digest``): the
SHA-256 of every leaf's bytes, shape and dtype, per shard that this process owns
(``replica_id == 0``). On restore the digest of the restored state must match; restored
onto another layout (an FSDP checkpoint read replicated, for instance), the restored
values are hashed block by block at the saved shard indices wherever this process holds
them (:func:`_digest_at_saved_indices`). A step
that is unreadable or does not match is skipped with a warning naming it and the step
used instead; it is moved aside to ``<directory>/corrupt-<step>-<time>`` (never deleted)
so the resumed run can write that step number again. If no intact step is left, a
:class:`CorruptCheckpointError` says so. Checkpoints written before digests were recorded
restore unverified, with a warning.
"""

from __future__ import annotations

import collections
import hashlib
import os
import time
import warnings
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from diffax import filesystem as fs
from diffax.training.state import TrainState

STATE_ITEM, DIGEST_ITEM = "default", "digest"
DIGEST_VERSION = 1


class CorruptCheckpointError(RuntimeError):
    """No checkpoint in a directory could be restored and verified."""


class CheckpointMismatchError(ValueError):
    """A checkpoint is intact but does not fit the state built from the current config."""


def abstract_like(tree: Any) -> Any:
    """ShapeDtypeStructs (with shardings) describing ``tree``: a restore target."""
    return jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=getattr(a, "sharding", None)),
        tree)


def _index_key(index: tuple) -> str:
    return ",".join(f"{s.start or 0}:{'' if s.stop is None else s.stop}"
                    if isinstance(s, slice) else str(s) for s in index)


def _hash(array: np.ndarray) -> str:
    array = np.ascontiguousarray(array)
    h = hashlib.sha256(f"{array.dtype.str}{array.shape}".encode())
    h.update(array.tobytes())
    return h.hexdigest()


def state_digest(tree: Any) -> dict[str, str]:
    """``{"<leaf path>@<shard index>": sha256}`` over the shards of ``tree`` that this
    process owns (one replica of each); a host array is one shard."""
    out = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        name = jax.tree_util.keystr(path)
        shards = getattr(leaf, "addressable_shards", None)
        if shards is None:
            out[f"{name}@host"] = _hash(np.asarray(leaf))
            continue
        for shard in shards:
            if shard.replica_id == 0:
                out[f"{name}@{_index_key(shard.index)}"] = _hash(np.asarray(shard.data))
    return out


def _bounds(index: tuple, shape: tuple) -> tuple[tuple[int, int], ...]:
    """(start, stop) per dimension of a shard index (slices) of an array of ``shape``."""
    return tuple((s.start or 0, n if s.stop is None else s.stop) for s, n in zip(index, shape))


def _parse_index(key: str, shape: tuple) -> tuple[tuple[int, int], ...] | None:
    """The (start, stop) bounds a digest index key (:func:`_index_key`) names, or None for a
    key of another form (``host``)."""
    parts = key.split(",") if key else []
    if len(parts) != len(shape) or not all(":" in p for p in parts):
        return None
    out = []
    for p, n in zip(parts, shape):
        a, b = p.split(":")
        out.append((int(a or 0), int(b) if b else n))
    return tuple(out)


def _digest_at_saved_indices(tree: Any, saved: dict[str, str],
                             restored: dict[str, str]) -> dict[str, str]:
    """Hashes of ``tree``'s values at the shard indices ``saved`` records and ``restored``
    lacks: a state saved with one layout (e.g. FSDP shards over a "model" axis) and
    restored onto another (replicated, or sharded another way) is checked block by block,
    each block cut from an addressable shard of this process that contains it, or from the
    whole array when this process holds all of it (one host)."""
    wanted = collections.defaultdict(list)
    for key in saved:
        if key not in restored:
            name, _, index = key.rpartition("@")
            wanted[name].append(index)
    out = {}
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        name = jax.tree_util.keystr(path)
        if name not in wanted or not hasattr(leaf, "addressable_shards"):
            continue
        sources = [(_bounds(sh.index, leaf.shape), lambda sh=sh: sh.data)
                   for sh in leaf.addressable_shards]
        if getattr(leaf, "is_fully_addressable", False):  # blocks spanning local shards
            sources.append((tuple((0, n) for n in leaf.shape), lambda leaf=leaf: leaf))
        host: dict[int, np.ndarray] = {}
        for index in wanted[name]:
            want = _parse_index(index, leaf.shape)
            if want is None:
                continue
            for i, (have, data) in enumerate(sources):
                if all(h0 <= w0 and w1 <= h1 for (w0, w1), (h0, h1) in zip(want, have)):
                    if i not in host:
                        host[i] = np.asarray(data())
                    array = host[i]
                    block = array[tuple(slice(w0 - h0, w1 - h0)
                                        for (w0, w1), (h0, _) in zip(want, have))]
                    out[f"{name}@{index}"] = _hash(block)
                    break
    return out


def _mismatches(saved: dict[str, str], restored: dict[str, str]) -> list[str]:
    """Entries of ``restored`` that ``saved`` records with another hash (entries it does not
    record, e.g. blocks of a layout no addressable shard contains, cannot be checked and
    are skipped)."""
    return sorted(k for k, v in restored.items() if k in saved and saved[k] != v)


def _shapes(tree: Any) -> collections.Counter:
    """How many leaves of each shape ``tree`` has (key paths are spelled differently in
    orbax's metadata tree and in the state, so they are not compared)."""
    return collections.Counter(tuple(x.shape) for x in jax.tree.leaves(tree))


class Checkpointer:
    """Save every ``save_every`` steps into ``directory`` (local or ``gs://``), keeping
    ``max_to_keep``; restore verifies digests and falls back to the newest intact step."""

    def __init__(self, directory: str, *, save_every: int, max_to_keep: int = 3,
                 async_save: bool = True):
        if save_every <= 0:
            raise ValueError(f"save_every must be > 0, got {save_every}.")
        if max_to_keep <= 0:
            raise ValueError(f"max_to_keep must be > 0, got {max_to_keep}.")
        self.directory = os.fspath(fs.as_path(directory))
        self.save_every = save_every
        options = ocp.CheckpointManagerOptions(
            max_to_keep=max_to_keep, create=True, enable_async_checkpointing=async_save,
            cleanup_tmp_directories=True)
        self.manager = ocp.CheckpointManager(self.directory, options=options, item_handlers={
            STATE_ITEM: ocp.StandardCheckpointHandler(),
            DIGEST_ITEM: ocp.JsonCheckpointHandler()})

    def __enter__(self) -> "Checkpointer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def should_save(self, step: int) -> bool:
        return step % self.save_every == 0

    def save(self, state: TrainState, *, step: int) -> None:
        """Save ``state`` and its digest as checkpoint ``step`` unless its run has halted."""
        if bool(jax.device_get(state.halted)):
            raise RuntimeError("refusing to checkpoint a halted state (non-finite loss); "
                               f"the latest good checkpoint stays step {self.latest_step()}.")
        digest = {"version": DIGEST_VERSION, "algorithm": "sha256", "step": int(step),
                  "leaves": state_digest(state)}
        self.manager.save(step, force=True, args=ocp.args.Composite(
            **{STATE_ITEM: ocp.args.StandardSave(state), DIGEST_ITEM: ocp.args.JsonSave(digest)}))

    # -- restore ----------------------------------------------------------------------
    def _check_structure(self, target: Any, step: int) -> None:
        """Raise CheckpointMismatchError when step ``step`` is readable but holds another
        tree than ``target`` (a config change, not corruption)."""
        try:
            meta = self.manager.item_metadata(step)[STATE_ITEM]
        except Exception:  # unreadable metadata: the restore attempt will report it
            return
        if meta is None:
            return
        tree = getattr(meta, "tree", meta)
        try:
            saved = _shapes(tree)
        except Exception:
            return
        want = _shapes(target)
        if saved != want:
            diff = sorted((saved - want).items())[:3], sorted((want - saved).items())[:3]
            raise CheckpointMismatchError(
                f"checkpoint step {step} in {self.directory} does not fit the state built from "
                f"this config: (shape, count) only in the checkpoint {diff[0]}, only in the new "
                f"state {diff[1]}. Restore it with the config it was trained with, or use a "
                f"new workdir.")

    def _restore_verified(self, target: Any, step: int) -> Any:
        abstract = abstract_like(target)
        try:
            out = self.manager.restore(step, args=ocp.args.Composite(**{
                STATE_ITEM: ocp.args.StandardRestore(abstract),
                DIGEST_ITEM: ocp.args.JsonRestore()}))
            state, digest = out[STATE_ITEM], out[DIGEST_ITEM]
        except Exception as e:
            if not self._lacks_digest(step):
                raise
            del e
            warnings.warn(f"checkpoint step {step} in {self.directory} has no digest (written "
                          f"before diffax recorded them); restored without verification.",
                          stacklevel=3)
            return self.manager.restore(step, args=ocp.args.Composite(
                **{STATE_ITEM: ocp.args.StandardRestore(abstract)}))[STATE_ITEM]
        restored = state_digest(state)
        restored.update(_digest_at_saved_indices(state, digest["leaves"], restored))
        bad = _mismatches(digest["leaves"], restored)
        n_bad = len(bad)
        if jax.process_count() > 1:  # every process must take the same decision
            from jax.experimental import multihost_utils
            n_bad = int(multihost_utils.process_allgather(np.int32(n_bad)).sum())
        if n_bad:
            raise CorruptCheckpointError(f"digest mismatch in {n_bad} shard(s), e.g. {bad[:3]}")
        return state

    def _lacks_digest(self, step: int) -> bool:
        step_dir = fs.as_path(self.directory) / str(step)
        return (step_dir / STATE_ITEM).exists() and not (step_dir / DIGEST_ITEM).exists()

    def restore(self, target: TrainState, step: int | None = None) -> TrainState:
        """Restore ``step`` (default: the newest intact step) with the structure and
        shardings of ``target``, verifying its digest.

        With ``step=None``, a step that cannot be read or fails verification is skipped
        (warning) and moved aside, and the next older one is tried. An explicit ``step``
        that fails raises :class:`CorruptCheckpointError`.
        """
        steps = sorted(self.all_steps(), reverse=True) if step is None else [step]
        if not steps:
            raise FileNotFoundError(f"no checkpoint in {self.directory}.")
        failed: list[tuple[int, str]] = []
        for s in steps:
            self._check_structure(target, s)
            try:
                state = self._restore_verified(target, s)
            except CheckpointMismatchError:
                raise
            except Exception as e:  # unreadable or altered: fall back to an older step
                reason = f"{type(e).__name__}: {str(e).splitlines()[0][:300] if str(e) else ''}"
                failed.append((s, reason))
                if step is not None:
                    break
                continue
            if failed:
                moved = self._quarantine([f for f, _ in failed])
                warnings.warn(
                    "corrupt checkpoint(s) skipped: " + "; ".join(
                        f"step {f} ({r}) moved to {m}" for (f, r), m in zip(failed, moved))
                    + f". Resuming from step {s}, the newest intact checkpoint.", stacklevel=2)
            return state
        detail = "; ".join(f"step {f}: {r}" for f, r in failed)
        raise CorruptCheckpointError(
            f"no intact checkpoint in {self.directory} ({detail}). Nothing was deleted; "
            f"start a new run in another workdir, or restore a copy of the checkpoints.")

    def _quarantine(self, steps: list[int]) -> list[str]:
        """Move the step folders aside (process 0), so their step numbers can be saved
        again; returns the new locations."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        base = fs.as_path(self.directory)
        moved = [os.fspath(base / f"corrupt-{s}-{stamp}") for s in steps]
        self.manager.wait_until_finished()
        if jax.process_index() == 0:
            for s, dst in zip(steps, moved):
                (base / str(s)).rename(dst)
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils
            multihost_utils.sync_global_devices("diffax-checkpoint-quarantine")
        self.manager.reload()
        return moved

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


__all__ = ["Checkpointer", "CheckpointMismatchError", "CorruptCheckpointError",
           "abstract_like", "state_digest"]
