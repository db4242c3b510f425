"""The task-agnostic training loop.

A task supplies ``batch_fn(step) -> dict of host arrays`` (this host's rows of the global
batch at ``step``; see ``diffax.data``), a jitted train step and optional hooks (sample
grids, evaluation). The loop places batches on the mesh, runs the step, and every
``sync_every`` steps reads the metrics back (this also bounds the number of queued
steps, which avoids the collective deadlock of simulated CPU devices, STACK.md), logs
them, checks for a halted (non-finite) state, and saves checkpoints. Because batches,
noise and dropout are functions of the step number, a run resumed from a checkpoint at
step s continues exactly as the uninterrupted run would have.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import jax
import numpy as np

from diffax.training.checkpointing import Checkpointer
from diffax.training.metric_logging import MetricLogger
from diffax.training.sharding import shard_batch
from diffax.training.state import TrainState


class NonFiniteLossError(FloatingPointError):
    """Raised when a run with the "stop" policy meets a non-finite loss or gradient."""


@dataclass
class Hook:
    """Call ``fn(step, state)`` every ``every`` steps (and at the end when ``at_end``)."""

    every: int
    fn: Callable[[int, TrainState], None]
    at_end: bool = True


def _mean_metrics(history: list[dict]) -> dict[str, float]:
    host = jax.device_get(history)
    out = {}
    for name in host[0]:
        values = np.asarray([h[name] for h in host], dtype=np.float64)
        finite = values[np.isfinite(values)]
        out[name] = float(finite.mean()) if finite.size else float("nan")
    return out


def fit(state: TrainState, train_step: Callable, batch_fn: Callable[[int], dict], *,
        mesh: jax.sharding.Mesh, num_steps: int, checkpointer: Checkpointer | None = None,
        logger: MetricLogger | None = None, log_every: int = 50, sync_every: int = 16,
        hooks: tuple[Hook, ...] = (), progress: bool = True) -> TrainState:
    """Train from ``state.step`` to ``num_steps``; returns the final state."""
    if sync_every <= 0 or log_every <= 0:
        raise ValueError(f"log_every and sync_every must be > 0, got {log_every}, {sync_every}.")
    start = int(jax.device_get(state.step))
    if start >= num_steps:
        return state
    bar = None
    if progress and jax.process_index() == 0:
        from tqdm.auto import tqdm
        bar = tqdm(total=num_steps, initial=start, desc="train", unit="step", dynamic_ncols=True)
    history: list[dict] = []
    t_last, steps_last = time.perf_counter(), start
    try:
        for step in range(start, num_steps):
            batch = shard_batch(batch_fn(step), mesh)
            state, metrics = train_step(state, batch)
            history.append(metrics)
            done = step + 1
            must_save = checkpointer is not None and (checkpointer.should_save(done)
                                                      or done == num_steps)
            must_log = done % log_every == 0 or done == num_steps
            due_hooks = [h for h in hooks if done % h.every == 0 or (h.at_end and done == num_steps)]
            if not (must_save or must_log or due_hooks or done % sync_every == 0):
                continue
            if bool(jax.device_get(state.halted)):
                bad = jax.device_get(history)
                first = next((start + i for i, h in enumerate(bad) if not h["finite"]), None)
                raise NonFiniteLossError(
                    f"non-finite loss or gradient at step {first if first is not None else '?'}"
                    f" (loss={[float(h['loss']) for h in bad if not h['finite']][:1]}); the "
                    f"parameters were kept at the last finite update and no checkpoint was "
                    f"written after it (latest: "
                    f"{checkpointer.latest_step() if checkpointer else None}). Lower the "
                    f"learning rate, enable gradient clipping, or set the non-finite policy "
                    f"to 'skip'.")
            if must_log:
                scalars = _mean_metrics(history[-log_every:])
                now = time.perf_counter()
                scalars["steps_per_sec"] = (done - steps_last) / max(now - t_last, 1e-9)
                scalars["num_nonfinite"] = float(jax.device_get(state.num_nonfinite))
                t_last, steps_last = now, done
                if logger is not None:
                    logger.write(done, scalars)
                if bar is not None:
                    bar.set_postfix(loss=f"{scalars['loss']:.4f}",
                                    it_s=f"{scalars['steps_per_sec']:.2f}")
                history = []
            if bar is not None:
                bar.n = done
                bar.refresh()
            if must_save:
                checkpointer.save(state, step=done)
            for hook in due_hooks:
                hook.fn(done, state)
    finally:
        if bar is not None:
            bar.close()
        if checkpointer is not None:
            checkpointer.wait()
    return state
