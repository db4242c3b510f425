"""One stage of Hyper-SD's trajectory-segmented consistency distillation (TSCD; Ren, Xia,
Lu, et al. 2024, "Hyper-SD: Trajectory Segmented Consistency Model for Efficient Image
Synthesis", Sec. 3.1) of a trained Fashion-MNIST EDM teacher (``fashion_mnist_edm.py``),
in pixel space (``diffax.objectives.hyper_sd_distillation``).

The N = 1000-point Karras grid (Karras et al. 2022, eq. 5, rho = 7; as
``fashion_mnist_lcm.py``) is cut into s segments equal in grid index, boundaries b_j =
t(tau = j (N - 1) / s), j = 0..s. The student f(x, t) maps a point at t in (b_{j-1},
b_j] to the teacher's trajectory at b_{j-1}: f = c_skip x + c_out (alpha(b) x0_hat +
sigma(b) eps_hat), LCM's c_skip / c_out with d = tau(t) - tau(b) in grid index, so f(x,
b) = x. The loss is LCM's skipping-step loss (k = 20, DDIM teacher step, EMA target 0.95,
squared l2) with the lower end of the teacher's step clipped to the segment's floor:

    L = E || f_theta(x_{n+k}, t_{n+k}) - stopgrad f_{theta^-}(x_hat, max(t_n, b)) ||^2,
    x_hat = DDIM_teacher(x_{n+k}: t_{n+k} -> max(t_n, b)),  b = floor of t_{n+k}.

Stages s = 8, 4, 2, 1 (``HYPER_SD_SEGMENTS``): stage s distils the same EDM teacher into
a student initialised from stage 2s's student (``objective.init_workdir``; the first
stage from the teacher, ``init_from_teacher``); s = 1 is LCM. An s-segment student is
sampled in s steps through the boundaries, x <- f(x, b_j) for j = s..1 (the registered
sampler ``segmented_consistency`` with ``grid="karras"``: it steps through the exact
boundaries the student's floors are computed from; ``sampling.nfe`` must be s).

Defaults: the first stage, s = 8 (set ``objective.kwargs.num_segments`` and
``sampling.nfe`` together for the others); grid, x0 prediction and the EDM network
reading as ``fashion_mnist_lcm.py`` (the student starts as the teacher's denoiser).

Differences from the paper, stated: no human-feedback learning, no one-step score
(distribution-matching) distillation and no adversarial term, only the MSE consistency
loss; pixel space and an unconditional teacher (no guidance); the stages' teacher is the
diffusion teacher throughout (the objective reads a teacher as a denoiser; a previous
stage's segmented f is not one).

Set ``--config.objective.teacher_workdir=DIR`` (required) and, after the first stage,
``--config.objective.init_from_teacher=False --config.objective.init_workdir=PREV``;
the model section must be the teacher's."""

import ml_collections

from configs.image import fashion_mnist_lcm


def get_config():
    c = fashion_mnist_lcm.get_config()
    c.objective.name = "hyper_sd_distillation"
    c.objective.init_workdir = ""   # stages after the first: the previous stage's run
    c.objective.kwargs = ml_collections.ConfigDict(dict(
        num_segments=8, prediction="x0", sampler="ddim", decay=0.95, distance="l2",
        grid="karras"))
    c.sampling.sampler = "segmented_consistency"
    c.sampling.sampler_kwargs = ml_collections.ConfigDict(dict(grid="karras"))
    c.sampling.schedule = "karras"  # the boundaries' spacing (checked by the sampler)
    c.sampling.nfe = 8              # = num_segments
    c.eval.samplers = ("segmented_consistency",)
    c.eval.nfes = (8,)
    return c
