"""Metric sinks for long runs: TensorBoard scalars (tensorboardX, no TensorFlow), a
``metrics.jsonl`` file (one JSON object per logged step, easy to load in a notebook)
and a console progress bar (tqdm) showing the latest loss. The workdir may be local or a
bucket (``gs://``): every file goes through :mod:`diffax.filesystem`."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from diffax import filesystem as fs


class MetricLogger:
    """Write scalars to ``workdir/tensorboard`` and ``workdir/metrics.jsonl``.

    ``resume_step``: records of a previous run after this step (written before it was
    killed, after its last checkpoint) are dropped, so that ``metrics.jsonl`` holds each
    step once after a resume.
    """

    def __init__(self, workdir: str, *, tensorboard: bool = True, enabled: bool = True,
                 resume_step: int | None = None):
        self.enabled = enabled
        self.path = fs.join(workdir, "metrics.jsonl")
        self.writer = None
        if enabled:
            fs.makedirs(workdir)
            if resume_step is not None and fs.exists(self.path):
                kept = [r for r in read_metrics(workdir) if r["step"] <= resume_step]
                fs.write_text(self.path, "".join(json.dumps(r) + "\n" for r in kept))
            if tensorboard:
                from tensorboardX import SummaryWriter
                self.writer = SummaryWriter(fs.tensorboard_logdir(fs.join(workdir, "tensorboard")))

    def write(self, step: int, scalars: dict[str, Any]) -> None:
        if not self.enabled:
            return
        values = {k: float(np.asarray(v)) for k, v in scalars.items()}
        fs.append_text(self.path, json.dumps({"step": int(step), **values}) + "\n")
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(name, value, int(step))
            self.writer.flush()

    def write_image(self, step: int, name: str, image_uint8: np.ndarray) -> None:
        """Log an (H, W, C) uint8 image to TensorBoard."""
        if self.enabled and self.writer is not None:
            self.writer.add_image(name, image_uint8, int(step), dataformats="HWC")
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def read_metrics(workdir: str) -> list[dict[str, float]]:
    """The records of ``workdir/metrics.jsonl`` (empty when absent)."""
    path = fs.join(workdir, "metrics.jsonl")
    if not fs.exists(path):
        return []
    return [json.loads(line) for line in fs.read_text(path).splitlines() if line.strip()]
