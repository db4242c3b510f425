"""The 2-D slice prior of DiffusionMBIR (docs/mbir.md): an EDM-preconditioned U-Net on the
32x32 axial slices of random-ellipsoid CT phantoms (``phantom_slices``, 48 volumes, about
1,000 slices). Small enough to train on two CPU cores in a few minutes:

    python -m experiments.main --config=configs/image/phantom_slices.py \
        --workdir=runs/phantom_slices --mode=train,sample

benchmarks/mbir.py trains (or loads) it and reconstructs whole volumes with it.
"""

import ml_collections

from configs.image import defaults


def get_config() -> ml_collections.ConfigDict:
    c = defaults.get_config()
    c.data.name = "phantom_slices"
    c.data.kwargs = ml_collections.ConfigDict(dict(size=32, num_volumes=48, seed=0))
    c.data.batch_size = 32
    c.data.flip = True                # a phantom mirrored left-right is still a phantom
    c.model.kwargs = ml_collections.ConfigDict(dict(
        channels=16, channel_mult=(1, 2, 2), num_res_blocks=1, attn_resolutions=(),
        dropout=0.0, embedding="sinusoidal", time_scale=250.0))
    c.training.n_steps = 1500
    c.training.sample_every = 500
    c.training.ckpt_every = 500
    c.optim.warmup_steps = 50
    c.sampling.num_samples = 16
    c.sampling.grid_size = 16
    c.sampling.nfe = 30
    c.eval.features = "pixels"        # no feature network exists for phantom slices
    c.eval.metrics = ("sliced_w2",)
    c.eval.num_samples = 256
    c.eval.likelihood_num_examples = 0
    return c
