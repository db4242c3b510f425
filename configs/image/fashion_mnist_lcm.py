"""LCM skipping-step consistency distillation (Luo et al. 2023, "Latent Consistency
Models", Sec. 4.2-4.3) of a trained Fashion-MNIST EDM teacher (``fashion_mnist_edm.py``),
in pixel space: on an N = 1000-point time grid of the teacher's process the teacher's
DDIM step spans k = 20 grid points (t_{n+k} -> t_n), the student f(x, t) = c_skip x +
c_out x0_hat (LCM's c_skip / c_out with d counted in grid index, sigma_data 0.5, timestep
scaling 10) regresses an EMA target (decay 0.95) at the teacher's step, squared l2
(``diffax.objectives.lcm_distillation``).

The grid is Karras et al. (2022, eq. 5) with rho = 7 (``grid="karras"``):
sigma_tau = (0.002^(1/7) + tau/999 (80^(1/7) - 0.002^(1/7)))^7, which plays the part of
LCM's DDPM index (evenly spaced integer timesteps of Stable Diffusion's schedule, most of
them at small noise): 451 of the 1000 levels lie below sigma = 1.6, and a skip of 20 spans
sigma 0.002 -> 0.003 at the bottom and 71.7 -> 80 at the top. (A grid uniform in sigma,
``grid="uniform_time"``, puts 20 levels below 1.6, so one skip covers the whole range where
the images form; at the ``small`` scale of ``benchmarks.few_step`` it gave FD-FMNIST 481 at
NFE 2.) The student is sampled with the multistep consistency sampler on the matching
Karras schedule: with n steps it visits the grid at tau = 999 (1 - i/n), i = 0..n-1
(LCM: evenly spaced DDIM indices).

The student starts from the teacher's EMA parameters (LCM initialises from the teacher)
and reads its network as the teacher does: the objective takes ``model.parameterization``
("edm": x0_hat = c_skip y + c_out F(c_in y, log(sigma)/4), Karras et al. 2022, eq. 7),
``model.time_input`` and ``model.sigma_data`` from the config, so at step 0 x0_hat is the
teacher's denoiser. (Reading the raw U-Net output as x0 of (x, sigma) instead, the student
started far from the teacher: its 8-step samples had FD-FMNIST 1727 before training.)

Differences from the paper, stated: guidance is off (the Fashion-MNIST teacher is
unconditional, so there is no w to distil; ``guidance_range`` stays ``None``); the student
predicts x0 (LCM: eps), because x0_hat = x - sigma eps amplifies an eps error by sigma up
to 80 on EDM's range.

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
        prediction="x0", sampler="ddim", decay=0.95, distance="l2", grid="karras"))
    c.optim.learning_rate = 2e-4
    c.optim.warmup_steps = 0
    c.training.n_steps = 800
    c.sampling.sampler = "consistency"
    c.sampling.schedule = "karras"  # the training grid's spacing (module docstring)
    c.sampling.nfe = 4
    c.eval.samplers = ("consistency",)
    c.eval.nfes = (1, 2, 4, 8)
    c.eval.likelihood_num_examples = 0  # f is not a PF-ODE model
    return c
