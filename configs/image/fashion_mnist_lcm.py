"""LCM skipping-step consistency distillation (Luo et al. 2023, "Latent Consistency
Models", Sec. 4.2-4.3) of a trained Fashion-MNIST EDM teacher (``fashion_mnist_edm.py``),
in pixel space: on the N = 1000-point time grid of the teacher's process the teacher's
DDIM step spans k = 20 grid points (t_{n+k} -> t_n), the student f(x, t) = c_skip x +
c_out x0_hat (LCM's c_skip / c_out, sigma_data 0.5, timestep scaling 10) regresses an EMA
target (decay 0.95) at the teacher's step, squared l2
(``diffax.objectives.lcm_distillation``).

Differences from the paper, stated: guidance is off (the Fashion-MNIST teacher is
unconditional, so there is no w to distil; ``guidance_range`` stays ``None``); the grid is
uniform in the teacher's time, which for EDM is sigma in [0.002, 80] (levels 1.6 apart),
not LCM's DDPM index; the network predicts x0 (LCM: eps), because x0_hat = x - sigma eps
amplifies an eps error by sigma up to 80 on EDM's range. The student starts from the
teacher's EMA parameters (LCM initialises from the teacher) and is sampled with the
multistep consistency sampler on evenly spaced times (LCM's evenly spaced DDIM indices).

Set ``--config.objective.teacher_workdir=DIR`` (required); the model section must be the
teacher's."""

import ml_collections

from configs.image import fashion_mnist_edm


def get_config():
    c = fashion_mnist_edm.get_config()
    c.objective.name = "lcm_distillation"
    c.objective.teacher_workdir = ""   # a trained fashion_mnist_edm.py run (required)
    c.objective.init_from_teacher = True
    c.objective.kwargs = ml_collections.ConfigDict(dict(
        prediction="x0", sampler="ddim", decay=0.95, distance="l2"))
    c.optim.learning_rate = 2e-4
    c.optim.warmup_steps = 0
    c.training.n_steps = 800
    c.sampling.sampler = "consistency"
    c.sampling.schedule = "uniform_time"
    c.sampling.nfe = 4
    c.eval.samplers = ("consistency",)
    c.eval.nfes = (1, 2, 4, 8)
    c.eval.likelihood_num_examples = 0  # f is not a PF-ODE model
    return c
