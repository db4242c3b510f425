"""Consistency distillation (Song et al. 2023, Alg. 2) of a trained Fashion-MNIST EDM
teacher (``fashion_mnist_edm.py``): the student, initialised from the teacher's EMA
parameters (CM Sec. 6), learns f(x, t) = x_{t_min} along the teacher's PF-ODE, whose
steps between the N = 18 Karras levels are Heun steps (``edm_heun``); EMA target with
mu = 0.95, squared l2. Sampled with the multistep consistency sampler (NFE = steps).

Set the teacher's run with ``--config.objective.teacher_workdir=DIR`` (required); the
model section must be the teacher's (the defaults here are ``fashion_mnist_edm.py``'s)."""

import ml_collections

from configs.image import defaults


def get_config():
    c = defaults.get_config()
    c.objective.name = "consistency_distillation"
    c.objective.teacher_workdir = ""   # a trained fashion_mnist_edm.py run (required)
    c.objective.init_from_teacher = True
    c.objective.kwargs = ml_collections.ConfigDict(dict(
        sampler="edm_heun", num_levels=18, decay=0.95, distance="l2"))
    c.optim.learning_rate = 2e-4
    c.optim.warmup_steps = 0
    c.training.n_steps = 800
    c.sampling.sampler = "consistency"
    c.sampling.nfe = 2
    c.eval.samplers = ("consistency",)
    c.eval.nfes = (1, 2, 4, 8)
    c.eval.likelihood_num_examples = 0  # f is not a PF-ODE model
    return c
