"""Fashion-MNIST with a DiT (Peebles & Xie, 2023, "Scalable Diffusion Models with
Transformers"): 4x4 patches (7x7 = 49 tokens), adaLN-zero blocks, EDM preconditioning
and loss, class-conditional with label dropout (CFG-ready, guidance scale 1 by default).

A transformer needs more steps than the U-Net to produce garments; on CPU this config is
a smoke test of the DiT path (``--config.training.n_steps=...`` for a real run, on an
accelerator).
"""

import ml_collections

from configs.image import defaults


def get_config():
    c = defaults.get_config()
    c.model.name = "dit"
    c.model.kwargs = ml_collections.ConfigDict(dict(
        patch=4, hidden=128, depth=4, heads=4, mlp_ratio=4.0, dropout=0.0,
        embedding="sinusoidal", time_scale=250.0))
    c.model.class_conditional = True
    c.training.label_dropout = 0.1
    c.optim.learning_rate = 5e-4
    c.optim.warmup_steps = 200
    c.training.n_steps = 4000
    c.sampling.num_samples = 100
    c.sampling.grid_size = 100
    return c
