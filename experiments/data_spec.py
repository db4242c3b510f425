"""What a run's network was sized for, written next to its checkpoints
(``workdir/data_spec.json``) and checked before they are restored, so that data that no
longer fit (another channel count, window or class count) give a clear error."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from diffax import filesystem as fs

if TYPE_CHECKING:
    from experiments.runner import Experiment


def data_spec(exp: Experiment) -> dict:
    """What a checkpoint's network was sized for (written by :func:`train`)."""
    return {"data": exp.config.data.name, "data_shape": list(exp.data_shape),
            "num_classes": exp.num_classes}


def check_data_spec(exp: Experiment, workdir: str) -> None:
    """A clear error when the data no longer fit the network trained in ``workdir`` (a
    different channel count, window or class count), before orbax reports a shape
    mismatch of some parameter."""
    path = fs.join(workdir, "data_spec.json")
    if not fs.exists(path):
        return
    saved, now = json.loads(fs.read_text(path)), data_spec(exp)
    for key, what in (("data_shape", "examples of shape"), ("num_classes", "classes")):
        if saved[key] != now[key]:
            raise ValueError(
                f"{exp.config.data.name!r} gives {what} {now[key]} (the last axis is the "
                f"channel count), but the checkpoints in {workdir} were trained on "
                f"{saved['data']!r} with {what} {saved[key]}: use the data and options the "
                f"model was trained with, or a new --workdir for the new data.")


__all__ = ["check_data_spec", "data_spec"]
