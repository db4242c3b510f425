"""Class-conditional generation of the "shapes" point clouds (sphere/ellipsoid, box,
cylinder, cone, torus, capsule; 512 points each) on CPU in a few minutes:

    python -m experiments.main --config=configs/pointcloud/shapes.py \\
        --workdir=/tmp/pc --mode=train,sample,eval

The full-size setting of the literature is ``--config.data.kwargs.num_points=2048``
(attention cost grows as the square of the points)."""

from configs.pointcloud import defaults


def get_config():
    return defaults.get_config()
