"""Metric sinks for long runs: TensorBoard scalars (tensorboardX, no TensorFlow), a
``metrics.jsonl`` file (one JSON object per logged step, easy to load in a notebook)
and a console progress bar (tqdm) showing the latest loss."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np


class MetricLogger:
    """Write scalars to ``workdir/tensorboard`` and ``workdir/metrics.jsonl``."""

    def __init__(self, workdir: str, *, tensorboard: bool = True, enabled: bool = True):
        self.enabled = enabled
        self.path = os.path.join(workdir, "metrics.jsonl")
        self.writer = None
        if enabled:
            os.makedirs(workdir, exist_ok=True)
            if tensorboard:
                from tensorboardX import SummaryWriter
                self.writer = SummaryWriter(os.path.join(workdir, "tensorboard"))

    def write(self, step: int, scalars: dict[str, Any]) -> None:
        if not self.enabled:
            return
        values = {k: float(np.asarray(v)) for k, v in scalars.items()}
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": int(step), **values}) + "\n")
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
    path = os.path.join(workdir, "metrics.jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
