"""Images in [-1, 1] (N, H, W, C): a U-Net or DiT sized from the spec, dequantized
bits/dim, image grids, the fraction of pixels outside [-1, 1] and, for class-conditional
Fashion-MNIST, how often the packaged classifier recognises the requested class.

With ``config.augment.p > 0`` the train step applies EDM's non-leaky augmentation
(:mod:`diffax.data.edm_augment`) to the clean images and hands the augment labels to the
network as ``augment_labels`` (the U-Net gets ``augment_dim`` from the transforms);
held-out batches and samplers give none, which the network reads as "not augmented"."""

from __future__ import annotations

import jax
import numpy as np

from diffax.data.edm_augment import EDMAugment, augment_from_config
from experiments.tasks.base import ElementSpec, Task


def augment_pipe(config) -> EDMAugment | None:
    """The augmentation of ``config.augment`` (None: off, or no such section)."""
    try:
        return augment_from_config(config.get("augment"))
    except ValueError as err:
        raise ValueError(f"config.augment is invalid: {err}") from None


class ImageTask(Task):
    name = "image"

    def network_kwargs(self, config, spec: ElementSpec) -> dict:
        h, w, c = spec.data_shape
        kwargs = {**dict(config.model.kwargs), "in_channels": c, "image_size": (h, w),
                  "num_classes": spec.num_classes}
        pipe = augment_pipe(config)
        if pipe is not None:
            if config.model.name != "unet":
                raise ValueError(f"config.augment.p={pipe.p} needs a network that takes "
                                 f"augment labels: model.name='unet' (augment_dim), got "
                                 f"{config.model.name!r}; or set augment.p=0.")
            given = kwargs.get("augment_dim", pipe.label_dim)
            if given != pipe.label_dim:
                raise ValueError(f"config.model.kwargs.augment_dim={given} differs from the "
                                 f"{pipe.label_dim} labels of augment.transforms "
                                 f"{list(pipe.enabled)}; leave it unset (it is derived).")
            kwargs["augment_dim"] = pipe.label_dim
        return kwargs

    def batch_transform(self, config, spec: ElementSpec, *, train: bool):
        """Training: EDM's augmentation of ``x`` (labels in ``augment_labels``), then label
        dropout; evaluation: nothing (no labels = not augmented)."""
        dropout = super().batch_transform(config, spec, train=train)
        pipe = augment_pipe(config) if train else None
        if pipe is None:
            return dropout

        def transform(batch: dict, key: jax.Array) -> dict:
            k_augment, k_dropout = jax.random.split(key)
            x, labels = pipe(k_augment, batch["x"])
            batch = {**batch, "x": x, "augment_labels": labels}
            return dropout(batch, k_dropout) if dropout is not None else batch
        return transform

    def default_features(self, dataset) -> str:
        """FD-FMNIST's classifier features on Fashion-MNIST, flattened pixels otherwise."""
        return "fmnist_cnn" if dataset.name == "fashion_mnist" else "pixels"

    def heldout_likelihood(self, model_fn, process, kind, x, labels, key, *, divergence,
                           rtol) -> dict:
        """Dequantized bits/dim of uint8 test images (an upper bound)."""
        from experiments import evaluation

        return evaluation.heldout_likelihood(model_fn, process, kind, x, labels, key,
                                             divergence=divergence, rtol=rtol, images=True)

    def extra_metrics(self, samples, condition, dataset) -> dict:
        from experiments import evaluation

        out = {"fraction_outside_pixel_range": float(np.mean(np.abs(samples) > 1.05))}
        if "label" in condition and dataset.name == "fashion_mnist":
            out.update(evaluation.class_accuracy(samples, condition["label"]))
        return out

    def inverse_pictures(self, measured, solved, truth, path):
        """Three rows of up to 16 images: measurement, reconstruction, truth."""
        from diffax.data import save_image_grid

        cols = min(len(truth), 16)
        grid = np.concatenate([measured[:cols], np.clip(solved[:cols], -1, 1), truth[:cols]])
        return save_image_grid(grid, path, nrow=cols, scale=4)

    def pictures(self, samples, path, reference=None):
        """A grid enlarged by pixel repetition to about 512 px (28x28 images are small);
        ``path`` may be on a bucket (``save_image_grid`` writes through diffax.filesystem)."""
        from diffax.data import make_image_grid, save_image_grid

        samples = np.asarray(samples)
        side = int(np.ceil(np.sqrt(len(samples))))
        scale = max(1, int(np.ceil(512 / max(make_image_grid(samples, nrow=side).shape[:2]))))
        grid = save_image_grid(samples, path, nrow=side, scale=scale)
        return np.repeat(grid, 3, axis=-1) if grid.shape[-1] == 1 else grid


__all__ = ["ImageTask"]
