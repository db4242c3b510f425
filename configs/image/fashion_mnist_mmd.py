"""MMD-DDM (Aiello, Valsesia & Magli 2023, "Fast Inference in Denoising Diffusion Models
via MMD Finetuning") on Fashion-MNIST: the trained EDM teacher (``fashion_mnist_edm.py``)
used with a fixed 4-step DDIM sampler (uniform log-SNR grid) is a generator x = S(z); its
network is fine-tuned so that a batch of 4-step samples matches the data batch in
MMD_u^2, back-propagating through the four steps (``diffax.objectives.mmd_finetune``).

The features are the pixels (the paper uses Inception features) and the RBF widths are
5, 10, 20, 40 in pixel units of [-1, 1] images: the pairwise distances of Fashion-MNIST
training images have quartiles 19 / 23 / 27 (measured on 1000 images), so the widths
straddle them (the library's default widths, 0.1 to 2, would give kernels of ~0 on
784-dimensional images). The student starts as the teacher (fine-tuning).

Set ``--config.objective.teacher_workdir=DIR`` (required); the model section must be the
teacher's. Evaluate with DDIM on ``uniform_log_snr`` at NFE 4 (the fine-tuned sampler)."""

import ml_collections

from configs.image import fashion_mnist_edm


def get_config():
    c = fashion_mnist_edm.get_config()
    c.objective.name = "mmd_finetune"
    c.objective.teacher_workdir = ""   # a trained fashion_mnist_edm.py run (required)
    c.objective.init_from_teacher = True
    c.objective.kwargs = ml_collections.ConfigDict(dict(
        sampler="ddim", num_steps=4, schedule="uniform_log_snr",
        bandwidths=(5.0, 10.0, 20.0, 40.0)))
    c.optim.learning_rate = 5e-5
    c.optim.warmup_steps = 0
    c.training.n_steps = 800
    c.sampling.sampler = "ddim"
    c.sampling.schedule = "uniform_log_snr"
    c.sampling.nfe = 4
    c.eval.samplers = ("ddim",)
    c.eval.nfes = (4,)
    c.eval.likelihood_num_examples = 0
    return c
