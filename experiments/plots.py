"""Pictures of samples: an image grid for (N, H, W, C) data, a scatter plot against the
data for 2-D vectors. Both return the picture as an (H, W, 3|C) uint8 array so it can
also go to TensorBoard."""

from __future__ import annotations

import io

import numpy as np

from diffax import filesystem as fs
from diffax.data import make_image_grid, save_image_grid


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


def save_samples(samples: np.ndarray, path: str, reference: np.ndarray | None = None) -> np.ndarray | None:
    """Write ``samples`` to ``path`` as an image grid (4-D) or a scatter plot (2-D with
    two features); returns the picture, or None for other shapes. ``path`` may be local
    or on a bucket (:mod:`diffax.filesystem`)."""
    samples = np.asarray(samples)
    if samples.ndim == 4:
        side = int(np.ceil(np.sqrt(len(samples))))
        # small images (28x28): enlarge by pixel repetition to about 512 px to inspect
        scale = max(1, int(np.ceil(512 / max(make_image_grid(samples, nrow=side).shape[:2]))))
        grid = save_image_grid(samples, path, nrow=side, scale=scale)
        return np.repeat(grid, 3, axis=-1) if grid.shape[-1] == 1 else grid
    if samples.ndim == 2 and samples.shape[1] == 2:
        return scatter_2d(samples, path, reference)
    return None
