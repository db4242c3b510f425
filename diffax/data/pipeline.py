"""Deterministic, per-host sharded, resumable batches: ``pipeline.batch(step)``.

The pipeline is stateless by step. The global batch at ``step`` is a pure function of
``(seed, step)``:

* ``steps_per_epoch = num_examples // global_batch_size`` and
  ``epoch, position = divmod(step, steps_per_epoch)``;
* epoch ``e`` visits the examples in the order ``epoch_permutation(num_examples, seed,
  e)`` (``default_rng([PERMUTATION_TAG, seed, e]).permutation(num_examples)``), and
  step ``position`` takes the slice ``[position * B, (position + 1) * B)`` of it;
* drop-remainder semantics: the last ``num_examples % B`` entries of each epoch's
  permutation are not used in that epoch (they are other examples in the next epoch's
  permutation), so every batch is full and every example appears at most once per
  epoch, exactly once when ``B`` divides ``num_examples``.

Host ``p`` of ``P`` produces only rows ``[p * B / P, (p + 1) * B / P)`` of the global
batch (``B`` must be divisible by ``P``); concatenating the hosts' batches in process
order gives the single-host global batch. Augmentation randomness is keyed by
``(seed, step, global row)`` (:mod:`diffax.data.preprocess`), so it does not depend on
the host layout either. Resuming after preemption is calling ``batch(step)`` (or
``iterate(start_step=step)``) from the restored step: the batches are identical to the
ones an uninterrupted run saw.

Batches are dicts of numpy arrays: ``"x"`` float32 of shape (b, H, W, C) in [-1, 1] for
images or (b, d) for vectors (as stored), and ``"label"`` int32 (b,) when the dataset
has labels.
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
from typing import Iterator

import numpy as np

from diffax.data.base import Dataset
from diffax.data.preprocess import augment_images

#: First word of the seed of the epoch permutations (domain separation).
PERMUTATION_TAG = 0x9E3


def epoch_permutation(num_examples: int, seed: int, epoch: int) -> np.ndarray:
    """The order in which epoch ``epoch`` visits the ``num_examples`` examples (int64)."""
    return np.random.default_rng([PERMUTATION_TAG, int(seed), int(epoch)]).permutation(
        num_examples)


def _as_step(step) -> int:
    try:
        step = operator.index(step)
    except TypeError:
        raise ValueError(f"step must be an integer, got {step!r} of type "
                         f"{type(step).__name__}.") from None
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}.")
    return step


@dataclasses.dataclass(frozen=True, eq=False)
class Pipeline:
    """Batches of ``dataset`` for one host; build it with :func:`make_pipeline`."""

    dataset: Dataset
    global_batch_size: int
    seed: int
    process_index: int = 0
    process_count: int = 1
    flip: bool = False
    dequantize: bool = False
    _cache: dict = dataclasses.field(default_factory=dict, init=False, repr=False)

    def __post_init__(self):
        for arg in ("global_batch_size", "seed", "process_index", "process_count"):
            value = getattr(self, arg)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise ValueError(f"Pipeline: {arg} must be an int, got {value!r}.")
            object.__setattr__(self, arg, int(value))
        b, n = self.global_batch_size, self.dataset.num_examples
        name = getattr(self.dataset, "name", type(self.dataset).__name__)
        if b < 1:
            raise ValueError(f"Pipeline: global_batch_size must be >= 1, got {b}.")
        if b > n:
            raise ValueError(f"Pipeline: global_batch_size {b} exceeds the {n} examples of "
                             f"{name!r}; batches are drawn without replacement within an "
                             "epoch.")
        if self.seed < 0:
            raise ValueError(f"Pipeline: seed must be >= 0, got {self.seed}.")
        if self.process_count < 1 or not 0 <= self.process_index < self.process_count:
            raise ValueError(f"Pipeline: need process_count >= 1 and 0 <= process_index < "
                             f"process_count, got process_index={self.process_index}, "
                             f"process_count={self.process_count}.")
        if b % self.process_count:
            raise ValueError(f"Pipeline: global_batch_size {b} is not divisible by "
                             f"process_count {self.process_count}; every host must get the "
                             "same number of rows.")
        if (self.flip or self.dequantize) and not self.dataset.is_image:
            raise ValueError(f"Pipeline: flip={self.flip} / dequantize={self.dequantize} "
                             f"need uint8 images, but {name!r} holds float vectors of shape "
                             f"{self.dataset.shape}; set both to False.")

    # ---- sizes ---------------------------------------------------------------------------
    @property
    def local_batch_size(self) -> int:
        """Rows this host produces per step: ``global_batch_size // process_count``."""
        return self.global_batch_size // self.process_count

    @property
    def steps_per_epoch(self) -> int:
        """``num_examples // global_batch_size`` (the remainder is dropped each epoch)."""
        return self.dataset.num_examples // self.global_batch_size

    @property
    def local_rows(self) -> slice:
        """This host's rows of the global batch."""
        b = self.local_batch_size
        return slice(self.process_index * b, (self.process_index + 1) * b)

    # ---- indices ---------------------------------------------------------------------------
    def permutation(self, epoch: int) -> np.ndarray:
        """``epoch_permutation(num_examples, seed, epoch)``, memoised for the latest epoch."""
        cached = self._cache.get("perm")
        if cached is not None and cached[0] == epoch:
            return cached[1]
        perm = epoch_permutation(self.dataset.num_examples, self.seed, epoch)
        self._cache["perm"] = (epoch, perm)
        return perm

    def global_indices(self, step: int) -> np.ndarray:
        """Dataset indices of the whole global batch at ``step`` (shape (B,))."""
        step = _as_step(step)
        epoch, position = divmod(step, self.steps_per_epoch)
        b = self.global_batch_size
        return self.permutation(epoch)[position * b:(position + 1) * b]

    def indices(self, step: int) -> np.ndarray:
        """Dataset indices of this host's rows at ``step`` (shape (local_batch_size,))."""
        return self.global_indices(step)[self.local_rows]

    # ---- batches ---------------------------------------------------------------------------
    def batch(self, step: int) -> dict[str, np.ndarray]:
        """This host's batch at ``step``: ``{"x": float32 (integers kept), "label": int32,
        ...every other key of the dataset's examples}``."""
        step = _as_step(step)
        rows = np.arange(self.local_rows.start, self.local_rows.stop)
        return self._convert(self.dataset.get(self.indices(step)), step, rows,
                             flip=self.flip, dequantize=self.dequantize)

    def examples(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        """The examples at dataset ``indices``, in that order, converted as :meth:`batch`
        converts them but never augmented (evaluation over a whole split)."""
        indices = np.asarray(indices)
        return self._convert(self.dataset.get(indices), 0, np.arange(len(indices)),
                             flip=False, dequantize=False)

    def _convert(self, examples: dict, step: int, rows: np.ndarray, *, flip: bool,
                 dequantize: bool) -> dict[str, np.ndarray]:
        if self.dataset.is_image:
            x = augment_images(examples["x"], seed=self.seed, step=step, rows=rows,
                               flip=flip, dequantize=dequantize)
        else:  # stored floats become float32; integer data (tokens) keep their dtype
            x = np.asarray(examples["x"])
            x = x.astype(np.float32) if x.dtype.kind == "f" else x
        out = {"x": x}
        if "label" in examples:
            out["label"] = np.asarray(examples["label"], dtype=np.int32)
        for key, value in examples.items():  # masks and side information pass through
            out.setdefault(key, np.asarray(value))
        return out

    __call__ = batch

    def as_grain(self, start_step: int = 0, num_steps: int | None = None):
        """A ``grain.MapDataset`` whose element ``i`` is ``batch(start_step + i)``
        (random access; ``num_steps=None`` means practically endless, 2**62 steps)."""
        import grain

        start_step = _as_step(start_step)
        stop = start_step + (2**62 if num_steps is None else _as_step(num_steps))
        return grain.MapDataset.range(start_step, stop).map(self.batch)

    def iterate(self, start_step: int = 0, num_steps: int | None = None, *,
                num_threads: int = 0, prefetch: int = 4) -> Iterator[dict[str, np.ndarray]]:
        """Batches for steps ``start_step, start_step + 1, ...`` (``num_steps`` of them, or
        endless). With ``num_threads > 0`` they are produced ahead of time by grain
        worker threads (``prefetch`` batches buffered); the order is unchanged."""
        start_step = _as_step(start_step)
        if num_steps is not None:
            num_steps = _as_step(num_steps)
        if num_threads > 0:
            import grain

            options = grain.ReadOptions(num_threads=num_threads,
                                        prefetch_buffer_size=max(prefetch, 1))
            return iter(self.as_grain(start_step, num_steps).to_iter_dataset(options))
        stop = None if num_steps is None else start_step + num_steps
        return map(self.batch, itertools.count(start_step) if stop is None
                   else range(start_step, stop))


def make_pipeline(dataset: Dataset, global_batch_size: int, seed: int, *,
                  process_index: int = 0, process_count: int = 1, flip: bool = False,
                  dequantize: bool = False) -> Pipeline:
    """The batch pipeline of ``dataset`` for host ``process_index`` of ``process_count``.

    Args:
      dataset: from :func:`diffax.data.get_dataset`.
      global_batch_size: rows per step summed over all hosts; must be divisible by
        ``process_count`` and at most ``dataset.num_examples``.
      seed: non-negative int; fixes the epoch permutations and the augmentations.
      process_index, process_count: this host and the number of hosts
        (``jax.process_index()``, ``jax.process_count()``).
      flip: random horizontal flips (images only).
      dequantize: uniform dequantization of the 8-bit pixels (images only).
    """
    return Pipeline(dataset, global_batch_size, seed, process_index, process_count,
                    bool(flip), bool(dequantize))


__all__ = ["PERMUTATION_TAG", "epoch_permutation", "Pipeline", "make_pipeline"]
