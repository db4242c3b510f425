"""CIFAR-10 with EDM (Karras et al. 2022, config F-like): preconditioning, log-normal
noise levels, lambda(sigma) weighting, DDPM++ U-Net (channels 128, (2, 2, 2), 4 blocks,
attention at 16), dropout 0.13, batch 512, lr 1e-3, EMA; Heun sampling with 35 NFE on the
Karras grid. Needs TFDS cifar10 prepared and an accelerator.

Never run (no accelerator has been lent for it yet) and without EDM's non-leaking
augmentation pipeline, so the paper's FID 1.97 is not expected from it as is."""

from configs.image import defaults


def get_config():
    c = defaults.get_config()
    c.data.name = "tfds:cifar10"
    c.data.batch_size = 512
    c.data.flip = True
    c.model.kwargs.update(channels=128, channel_mult=(2, 2, 2), num_res_blocks=4,
                          attn_resolutions=(16,), dropout=0.13)
    c.optim.learning_rate = 1e-3
    c.optim.warmup_steps = 20_000
    c.optim.schedule = "constant"
    c.training.n_steps = 400_000
    c.training.ckpt_every = 10_000
    c.training.sample_every = 10_000
    c.training.log_every = 100
    c.training.ema_decays = (0.9993,)
    c.sampling.sampler = "edm_heun"
    c.sampling.nfe = 35
    return c
