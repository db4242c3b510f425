"""Point clouds: the generated "shapes" set, meshes bundled in the pyvista wheel,
PointFlow's ShapeNet format from a local folder, and PointFlow's normalisation protocol
(see ``docs/pointcloud.md``)."""

from diffax.data.pointcloud.dataset import PointCloudDataset
from diffax.data.pointcloud.loader import (PC_PREFIX, load_meshes, load_shapenet, load_shapes,
                                           pointcloud_loaders)
from diffax.data.pointcloud.normalize import (MODES, PointCloudNormalizer,
                                              bounding_box_normalize, to_evaluation_units)
from diffax.data.pointcloud.shapes import SHAPE_CLASSES, generate_shapes

__all__ = ["MODES", "PC_PREFIX", "PointCloudDataset", "PointCloudNormalizer", "SHAPE_CLASSES",
           "bounding_box_normalize", "generate_shapes", "load_meshes", "load_shapenet",
           "load_shapes", "pointcloud_loaders", "to_evaluation_units"]
