"""Data: TFDS/grain pipelines, offline sources and synthetic sets.

* :func:`get_dataset` (``"fashion_mnist"``, ``"digits"``, 2-D toys, ``"tfds:<name>"``)
  returns a dataset with ``num_examples``, ``shape``, ``element_spec``, ``num_classes``.
* :func:`make_pipeline` turns it into a deterministic, per-host sharded, resumable
  batch function: ``pipeline.batch(step) -> {"x": float32, "label": int32}``.
* :func:`to_uint8` / :func:`save_image_grid` for looking at batches and samples.
* :class:`EDMAugment`: EDM's non-leaky geometric augmentation (jit-able, with the
  augment labels that condition the network).

Nothing here imports TensorFlow or downloads data.
"""

from diffax.data.base import ArrayDataset, ArraySpec, Dataset
from diffax.data.digits import load_digits
from diffax.data.edm_augment import EDM_TRANSFORMS, EDMAugment
from diffax.data.fashion_mnist import load_fashion_mnist
from diffax.data.idx import parse_idx, read_idx
from diffax.data.pipeline import Pipeline, epoch_permutation, make_pipeline
from diffax.data.preprocess import (augment_images, center_crop, dequantize_uint8, resize,
                                    to_uint8, uint8_to_float)
from diffax.data.registry import DATASETS, dataset_names, dataset_options, get_dataset
from diffax.data.tfds_source import (TFDS_DATASETS, DatasetNotPreparedError, TfdsDataset,
                                     load_tfds)
from diffax.data.toys import TOY_NAMES, eight_gaussians_mixture, gmm2d_mixture, load_toy
from diffax.data.visualize import make_image_grid, save_image_grid

__all__ = [
    "ArrayDataset", "ArraySpec", "Dataset", "EDMAugment", "EDM_TRANSFORMS", "load_digits",
    "load_fashion_mnist",
    "parse_idx", "read_idx", "Pipeline", "epoch_permutation", "make_pipeline",
    "augment_images", "center_crop", "dequantize_uint8", "resize", "to_uint8",
    "uint8_to_float", "DATASETS", "dataset_names", "dataset_options", "get_dataset", "TFDS_DATASETS",
    "DatasetNotPreparedError", "TfdsDataset", "load_tfds", "TOY_NAMES",
    "eight_gaussians_mixture", "gmm2d_mixture", "load_toy", "make_image_grid",
    "save_image_grid",
]
