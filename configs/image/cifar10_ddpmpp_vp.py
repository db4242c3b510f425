"""CIFAR-10 with the DDPM++ (VP) recipe of Song et al. (2021): 4 resolutions,
channels 128, 4 residual blocks, attention at 16x16, dropout 0.1, flips, EMA 0.9999,
batch 128, lr 2e-4 with 5000 warm-up steps. Needs the TFDS cifar10 data prepared
(``tfds build cifar10`` on a machine with internet) and an accelerator.

Never run (no accelerator has been lent for it yet); the FID-50k protocol that would
compare it with the paper comes with issue 19."""

from configs.image import defaults


def get_config():
    c = defaults.get_config()
    c.data.name = "tfds:cifar10"
    c.data.batch_size = 128
    c.data.flip = True
    c.process.name = "vp_linear"
    c.model.kwargs.update(channels=128, channel_mult=(1, 2, 2, 2), num_res_blocks=4,
                          attn_resolutions=(16,), dropout=0.1, time_scale=1000.0)
    c.model.parameterization = "eps"
    c.model.time_input = "t"
    c.loss.name = "dsm"
    c.loss.kwargs = dict(kind="eps", weighting="uniform", time_sampling="uniform")
    c.optim.learning_rate = 2e-4
    c.optim.warmup_steps = 5000
    c.optim.schedule = "constant"
    c.training.n_steps = 1_300_000
    c.training.ckpt_every = 10_000
    c.training.sample_every = 10_000
    c.training.log_every = 100
    c.training.ema_decays = (0.9999,)
    c.sampling.schedule = "uniform_log_snr"
    c.sampling.nfe = 20
    return c
