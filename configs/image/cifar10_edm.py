"""CIFAR-10 unconditional, EDM's recipe (Karras et al. 2022, "Elucidating the Design Space
of Diffusion-Based Generative Models"): Table 2, config F with the DDPM++ ("VP")
architecture, the run of the official ``edm-cifar10-32x32-uncond-vp`` network (FID 1.97):

    train.py --cond=0 --arch=ddpmpp --precond=edm --batch=512 --lr=1e-3 --ema=0.5
             --dropout=0.13 --augment=0.12 --duration=200

* EDM preconditioning and loss (log-normal sigma, P_mean -1.2, P_std 1.2, sigma_data 0.5:
  the image defaults);
* DDPM++-style U-Net: channels 128, channel_mult (2, 2, 2), 4 blocks per level,
  attention at 16x16, dropout 0.13;
* batch 512, Adam lr 1e-3 (betas 0.9/0.999, eps 1e-8) after a linear ramp over 10 Mimg,
  then constant, no gradient clipping, 200 Mimg (390,625 steps);
* EMA with a half-life of 0.5 Mimg: decay 0.5^(512 / 500,000) per step;
* EDM's non-leaky augmentation with p = 0.12: x-flips (half of the images, EDM's
  multiplier 1e8), y-flips, isotropic scaling, rotation, anisotropic scaling, fractional
  translation, 9 augment labels to the U-Net; no x-flips in the data pipeline (EDM's
  ``--xflip`` is off);
* sampling: Heun's 2nd-order method on the Karras grid (rho 7, sigma 0.002..80), 18 steps
  = 35 network evaluations.

Known differences from the official run: the U-Net is diffax's DDPM++-style network, not
EDM's ``SongUNet`` (same widths and depths; its noise embedding, resampling filters and
initialisation differ); the EMA ramp-up is diffax's ``(1 + n) / (10 + n)`` cap instead of
EDM's half-life cap of 0.05 x images seen; the augmentation resamples bilinearly at 32x32
instead of EDM's 2x wavelet oversampling (diffax.data.edm_augment). Needs TFDS cifar10
prepared (``tfds build cifar10 --file_format=array_record`` on a machine with internet)
and accelerators; never trained to completion here, so the paper's FID is not yet
reproduced. ``tests/experiments/test_cifar_recipes.py`` runs it for a few steps on CPU
with TFDS mock data.
"""

from configs.image import defaults

BATCH = 512
MIMG = 1_000_000                      # EDM counts training in images


def get_config():
    c = defaults.get_config()
    c.data.name = "tfds:cifar10"
    c.data.batch_size = BATCH
    c.data.flip = False               # x-flips come from the augmentation, with labels
    c.model.kwargs.update(channels=128, channel_mult=(2, 2, 2), num_res_blocks=4,
                          attn_resolutions=(16,), dropout=0.13)
    c.augment.p = 0.12
    c.augment.transforms = ("xflip", "yflip", "scale", "rotate_frac", "aniso",
                            "translate_frac")
    c.augment.always = ("xflip",)
    c.optim.learning_rate = 1e-3
    c.optim.warmup_steps = round(10 * MIMG / BATCH)      # lr_rampup_kimg = 10,000
    c.optim.schedule = "constant"
    c.optim.grad_clip = 0.0
    c.training.n_steps = 200 * MIMG // BATCH              # 200 Mimg
    c.training.ckpt_every = 10_000
    c.training.sample_every = 10_000
    c.training.log_every = 100
    c.training.ema_decays = (0.5 ** (BATCH / (0.5 * MIMG)),)   # half-life 0.5 Mimg
    c.sampling.sampler = "edm_heun"
    c.sampling.schedule = "karras"
    c.sampling.nfe = 35
    c.eval.samplers = ("edm_heun",)
    c.eval.nfes = (35,)
    return c
