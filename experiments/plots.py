"""Plots for tasks' pictures (``experiments.tasks``): a scatter plot of 2-D samples next
to the data, returned as an (H, W, 3) uint8 array so it can also go to TensorBoard."""

from __future__ import annotations

import io

import numpy as np

from diffax import filesystem as fs


def scatter_2d(samples: np.ndarray, path: str, reference: np.ndarray | None = None,
               title: str = "") -> np.ndarray:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    fig, axes = plt.subplots(1, 2 if reference is not None else 1, figsize=(8, 4),
                             squeeze=False, sharex=True, sharey=True)
    panels = [(samples, "samples")] + ([(reference, "data")] if reference is not None else [])
    for ax, (pts, name) in zip(axes[0], panels):
        ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5)
        ax.set_title(f"{name} ({len(pts)})")
        ax.set_aspect("equal")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    fs.write_bytes(path, buf.getvalue())
    return np.asarray(Image.open(buf).convert("RGB"))
