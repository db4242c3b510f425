"""Pictures of samples: an image grid for (N, H, W, C) data, a scatter plot against the
data for 2-D vectors. Both return the picture as an (H, W, 3|C) uint8 array so it can
also go to TensorBoard."""

from __future__ import annotations

import os

import numpy as np

from diffax.data import save_image_grid


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
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return np.asarray(Image.open(path).convert("RGB"))


def save_samples(samples: np.ndarray, path: str, reference: np.ndarray | None = None) -> np.ndarray | None:
    """Write ``samples`` to ``path`` as an image grid (4-D) or a scatter plot (2-D with
    two features); returns the picture, or None for other shapes."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    samples = np.asarray(samples)
    if samples.ndim == 4:
        from PIL import Image
        grid = save_image_grid(samples, path, nrow=int(np.ceil(np.sqrt(len(samples)))))
        scale = max(1, int(np.ceil(512 / max(grid.shape[:2]))))
        if scale > 1:  # small images (28x28): enlarge with nearest neighbour to inspect
            image = Image.open(path)
            image.resize((image.width * scale, image.height * scale), Image.NEAREST).save(path)
        return np.asarray(Image.open(path).convert("RGB"))
    if samples.ndim == 2 and samples.shape[1] == 2:
        return scatter_2d(samples, path, reference)
    return None
