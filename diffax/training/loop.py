"""The task-agnostic training loop.

A task supplies ``batch_fn(step) -> dict of host arrays`` (this host's rows of the global
batch at ``step``; see ``diffax.data``), a jitted train step and optional hooks (sample
grids, evaluation). The loop places batches on the mesh, runs the step, and every
``sync_every`` steps reads the metrics back (this also bounds the number of queued
steps, which avoids the collective deadlock of simulated CPU devices, STACK.md), logs
them, checks for a halted (non-finite) state, and saves checkpoints. Because batches,
noise and dropout are functions of the step number, a run resumed from a checkpoint at
step s continues exactly as the uninterrupted run would have.

Profiling: ``profile_steps=(N, k)`` wraps steps N..N+k-1 (``state.step`` before the
update, i.e. the batch index) in ``jax.profiler.start_trace(profile_dir)`` /
``stop_trace``. The loop blocks on the state before starting (so earlier queued steps stay
out of the trace) and on the step outputs before stopping (so the trace holds the device
work of all k steps, not only their dispatch). A run resumed past N traces what is left of
the window.
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


def _profile_window(profile_steps, profile_dir: str | None,
                    num_steps: int) -> tuple[int, int] | None:
    """(first, end) of the traced steps, or None without profiling; bad values raise."""
    value = tuple(profile_steps or ())
    if not value:
        return None
    ints = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    if len(value) != 2 or not ints or value[0] < 0 or value[1] < 1 \
            or value[0] + value[1] > num_steps:
        raise ValueError(f"profile_steps={value!r} is invalid: expected () or (first_step, "
                         f"num_steps) with first_step >= 0, num_steps >= 1 and first_step + "
                         f"num_steps <= {num_steps} (the run's steps).")
    if not profile_dir:
        raise ValueError(f"profile_steps={value!r} needs a profile_dir to write the trace to.")
    return int(value[0]), int(value[0] + value[1])


def fit(state: TrainState, train_step: Callable, batch_fn: Callable[[int], dict], *,
        mesh: jax.sharding.Mesh, num_steps: int, checkpointer: Checkpointer | None = None,
        logger: MetricLogger | None = None, log_every: int = 50, sync_every: int = 16,
        hooks: tuple[Hook, ...] = (), progress: bool = True,
        profile_steps: tuple[int, int] | tuple[()] = (),
        profile_dir: str | None = None) -> TrainState:
    """Train from ``state.step`` to ``num_steps``; returns the final state. With
    ``profile_steps=(N, k)`` a ``jax.profiler`` trace of steps N..N+k-1 goes to
    ``profile_dir`` (module docstring)."""
    if sync_every <= 0 or log_every <= 0:
        raise ValueError(f"log_every and sync_every must be > 0, got {log_every}, {sync_every}.")
    window = _profile_window(profile_steps, profile_dir, num_steps)
    start = int(jax.device_get(state.step))
    if start >= num_steps:
        return state
    bar = None
    if progress and jax.process_index() == 0:
        from tqdm.auto import tqdm
        bar = tqdm(total=num_steps, initial=start, desc="train", unit="step", dynamic_ncols=True)
    history: list[dict] = []
    t_last, steps_last = time.perf_counter(), start
    tracing = False
    try:
        for step in range(start, num_steps):
            batch = shard_batch(batch_fn(step), mesh)
            if window is not None and step == max(window[0], start) and step < window[1]:
                jax.block_until_ready(state)
                jax.profiler.start_trace(profile_dir)
                tracing = True
            state, metrics = train_step(state, batch)
            if tracing and step + 1 == window[1]:
                jax.block_until_ready((state, metrics))
                jax.profiler.stop_trace()
                tracing = False
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
        if tracing:
            jax.profiler.stop_trace()
        if bar is not None:
            bar.close()
        if checkpointer is not None:
            checkpointer.wait()
    return state
