"""CIFAR-10 with the DDPM++ (VP SDE, continuous) recipe of Song et al. (2021),
"Score-based generative modeling through stochastic differential equations" (score_sde
``configs/vp/cifar10_ddpmpp_continuous.py``): linear VP schedule (beta 0.1..20),
epsilon-prediction DSM with uniform time sampling (the paper's unweighted, mean-reduced
loss), 4 resolutions, channels 128, 4 residual blocks, attention at 16x16, dropout 0.1,
random x-flips, batch 128, Adam lr 2e-4 after 5000 linear warm-up steps, gradient
clipping at norm 1, EMA 0.9999, 1.3M steps. No augmentation (score_sde has none).

Differences from score_sde: diffax's DDPM++-style U-Net (not score_sde's BigGAN-type
residual blocks with FIR resampling), and sampling with DPM-Solver++(2M), 20 steps on the
uniform log-SNR grid instead of the 1000-step predictor-corrector sampler. Needs TFDS
cifar10 prepared (``tfds build cifar10 --file_format=array_record`` on a machine with
internet) and accelerators; never trained to completion here.
``tests/experiments/test_cifar_recipes.py`` runs it for a few steps on CPU with TFDS mock
data."""

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
    c.optim.grad_clip = 1.0
    c.training.n_steps = 1_300_000
    c.training.ckpt_every = 10_000
    c.training.sample_every = 10_000
    c.training.log_every = 100
    c.training.ema_decays = (0.9999,)
    c.sampling.schedule = "uniform_log_snr"
    c.sampling.nfe = 20
    return c
