"""One stage of progressive distillation (Salimans & Ho 2022, Alg. 2) of a trained
Fashion-MNIST EDM teacher (``fashion_mnist_edm.py``) on the cosine VP process: the
student, initialised from its teacher's EMA parameters, learns in ``student_steps`` DDIM
steps what the teacher does in twice as many (uniform time grid), with the truncated-SNR
weight max(SNR, 1). The network keeps EDM's preconditioning, which is applied in EDM
coordinates (x / alpha, sigma / alpha) on any Gaussian process, so the EDM teacher's
network is already a model of the cosine process and stage 1 starts exactly at the
teacher. Stage k + 1 uses stage k's run as ``teacher_workdir`` with half the steps.

Set ``--config.objective.teacher_workdir=DIR`` (required) and
``--config.objective.kwargs.student_steps=N``; sample with DDIM on ``uniform_time`` at
NFE = N (the student's grid, ``student_timesteps``)."""

import ml_collections

from configs.image import defaults


def get_config():
    c = defaults.get_config()
    c.process.name = "vp_cosine"
    c.objective.name = "progressive_distillation"
    c.objective.teacher_workdir = ""   # the teacher's run (required)
    c.objective.init_from_teacher = True
    c.objective.kwargs = ml_collections.ConfigDict(dict(student_steps=8, parameterization="edm",
                                                        time_input="c_noise"))
    c.optim.learning_rate = 2e-4
    c.optim.warmup_steps = 0
    c.training.n_steps = 800
    c.sampling.sampler = "ddim"
    c.sampling.schedule = "uniform_time"
    c.sampling.nfe = 8
    c.eval.samplers = ("ddim",)
    c.eval.nfes = (8,)
    return c
