"""Plots for tasks' pictures (``experiments.tasks``), each returned as an (H, W, 3) uint8
array so it can also go to TensorBoard:

* :func:`scatter_2d`: 2-D samples next to the data;
* :func:`series_bands`: probabilistic imputations or forecasts of time series, the
  median and the 5-95% band of the draws over the conditioning and hidden values;
* :func:`series_side_by_side`: generated series next to real ones.
"""

from __future__ import annotations

import io

import numpy as np

from diffax import filesystem as fs


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: str) -> np.ndarray:
    """Write ``fig`` as a PNG to ``path`` (any diffax.filesystem path) and return it."""
    from PIL import Image

    plt = _pyplot()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    fs.write_bytes(path, buf.getvalue())
    return np.asarray(Image.open(buf).convert("RGB"))


def scatter_2d(samples: np.ndarray, path: str, reference: np.ndarray | None = None,
               title: str = "") -> np.ndarray:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2 if reference is not None else 1, figsize=(8, 4),
                             squeeze=False, sharex=True, sharey=True)
    panels = [(samples, "samples")] + ([(reference, "data")] if reference is not None else [])
    for ax, (pts, name) in zip(axes[0], panels):
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5)
        ax.set_title(f"{name} ({len(pts)})")
        ax.set_aspect("equal")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def series_bands(truth: np.ndarray, cond_mask: np.ndarray, target_mask: np.ndarray,
                 low: np.ndarray, median: np.ndarray, high: np.ndarray, path: str, *,
                 time: np.ndarray | None = None, channels: tuple[int, ...] = (0,),
                 title: str = "") -> np.ndarray:
    """One panel per (example, channel): the conditioning values (black dots), the hidden
    true values (red crosses), the median of the draws (blue line) and the band between
    ``low`` and ``high`` (e.g. the 5% and 95% quantiles). Arrays are (B, L, K) for the
    examples to draw, already in data units."""
    plt = _pyplot()
    rows, cols = len(truth), len(channels)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.2 * rows), squeeze=False)
    for b in range(rows):
        steps = np.arange(truth.shape[1]) if time is None else np.asarray(time[b])
        for j, k in enumerate(channels):
            ax = axes[b, j]
            ax.fill_between(steps, low[b, :, k], high[b, :, k], color="tab:blue", alpha=0.25,
                            lw=0, label="5-95%")
            ax.plot(steps, median[b, :, k], color="tab:blue", lw=1, label="median")
            given, hidden = cond_mask[b, :, k] > 0, target_mask[b, :, k] > 0
            ax.plot(steps[given], truth[b, given, k], "k.", ms=3, label="observed")
            ax.plot(steps[hidden], truth[b, hidden, k], "rx", ms=4, label="hidden (truth)")
            ax.set_title(f"example {b}, channel {k}", fontsize=8)
            ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=6, loc="best")
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def series_side_by_side(samples: np.ndarray, reference: np.ndarray, path: str, *,
                        num: int = 8, title: str = "") -> np.ndarray:
    """Generated series (left) next to real ones (right), ``num`` of each overlaid per
    channel (first three channels); arrays are (N, L, K) in data units."""
    plt = _pyplot()
    channels = range(min(3, samples.shape[-1]))
    fig, axes = plt.subplots(len(channels), 2, figsize=(9, 2.2 * len(channels)),
                             squeeze=False, sharey="row")
    for j, k in enumerate(channels):
        for col, (series, name) in enumerate(((samples, "generated"), (reference, "real"))):
            ax = axes[j, col]
            for s in series[:num]:
                ax.plot(s[:, k], lw=0.8, alpha=0.8)
            ax.set_title(f"{name}, channel {k}", fontsize=8)
            ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(fig, path)
