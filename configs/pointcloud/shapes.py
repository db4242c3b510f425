"""Class-conditional generation of the "shapes" point clouds (sphere/ellipsoid, box,
cylinder, cone, torus, capsule; 128 points each) on CPU in about ten minutes:

    python -m experiments.main --config=configs/pointcloud/shapes.py \\
        --workdir=/tmp/pc --mode=train,sample,eval

The literature's size is ``--config.data.kwargs.num_points=2048`` with many more steps
(attention cost grows as the square of the points; an accelerator job). At this size the
samples are recognisable primitives, a little fuzzier than the data; docs/pointcloud.md
has the measurements."""

from configs.pointcloud import defaults


def get_config():
    return defaults.get_config()
