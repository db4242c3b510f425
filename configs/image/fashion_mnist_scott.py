"""SCott: stochastic consistency distillation (Liu, Xie, Ye, Deng, et al. 2024, "SCott:
Accelerating Diffusion Models with Stochastic Consistency Distillation") of a trained
Fashion-MNIST EDM teacher (``fashion_mnist_edm.py``), in pixel space
(``diffax.objectives.scott_distillation``).

As LCM (``fashion_mnist_lcm.py``, whose grid, network reading and sampler this config
shares), on the N = 1000-point Karras grid tau = 0..999 (Karras et al. 2022, eq. 5,
rho = 7) the upper time is one of the 50 levels tau = 19, 39, .., 999 and the teacher's
step spans k = 20 grid points, t_{n+k} -> t_n, and the student f(x, t) = c_skip x + c_out
x0_hat (LCM's c_skip / c_out, d counted in grid index) regresses an EMA target (decay
0.95) at the end of the teacher's step, squared l2:

    L = E || f_theta(x_{n+k}, t_{n+k}) - stopgrad f_{theta^-}(x_hat_n, t_n) ||^2,
    x_{n+k} = x0 + t_{n+k} z.

SCott's change is the teacher's step x_hat_n = Psi(x_{n+k}): ``teacher_substeps`` = n
sub-steps, uniform in t, of a *stochastic* solver with noise strength eta, here
SDE-DPM-Solver++(2M) (``sde_dpm_solver++_2m``): with h = lambda_{i+1} - lambda_i and the
teacher's denoiser x0_i,

    x_{i+1} = (sigma_{i+1}/sigma_i) e^{-eta h} x_i + (1 - e^{-(1+eta) h}) D_i
              + sigma_{i+1} sqrt(1 - e^{-2 eta h}) z_i,

D_i the second-order multistep combination of x0_i and x0_{i-1} (first order at the
first sub-step); eta = 0 is the ODE (LCM's teacher), eta = 1 the reverse SDE.

Defaults and why: n = 2 sub-steps and eta = 0.5 (the objective's defaults: SCott's
point is a multi-step stochastic teacher with a noise strength between the ODE and the
SDE; the paper's own constants were not available to check here beyond its abstract,
docs/few_step.md); k = 20 of N = 1000, EMA 0.95, squared l2, x0 prediction, the Karras
grid and the EDM network reading, all as ``fashion_mnist_lcm.py`` and for the same
reasons (there: a uniform-sigma grid and the raw network reading gave FD-FMNIST 481 and
1727), so that SCott and LCM differ only in the teacher's step. The student starts from the
teacher's EMA parameters and reads its network as the teacher does (``parameterization``
/ ``time_input`` / ``sigma_data`` of the model section). Sampled with the multistep
consistency sampler on the matching Karras schedule (n steps visit tau = 999 (1 - i/n)).

Differences from the paper, stated: no adversarial term (SCott adds a LoRA
discriminator conditioned on text and time); pixel space, no text (the teacher is
unconditional, so guidance is off); the student predicts x0 (as in the LCM config).

Set ``--config.objective.teacher_workdir=DIR`` (required); the model section must be the
teacher's."""

import ml_collections

from configs.image import fashion_mnist_lcm


def get_config():
    c = fashion_mnist_lcm.get_config()
    c.objective.name = "scott_distillation"
    c.objective.kwargs = ml_collections.ConfigDict(dict(
        prediction="x0", sampler="sde_dpm_solver++_2m",
        sampler_options=ml_collections.ConfigDict(dict(eta=0.5)), teacher_substeps=2,
        decay=0.95, distance="l2", grid="karras"))
    return c
