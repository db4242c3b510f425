"""DPM-Solver: exponential integrators for the diffusion ODE with a noise predictor.

Lu, Zhou, Bao, Chen, Li & Zhu, "DPM-Solver: A Fast ODE Solver for Diffusion
Probabilistic Model Sampling in Around 10 Steps", NeurIPS 2022 (arXiv:2206.00927).
In lambda = log(alpha/sigma) time, one step s -> t with h = lambda_t - lambda_s reads
(see :mod:`.exponential_integrators`; eps_s = eps_theta(x_s, s)):

* DPM-Solver-1 (= DDIM, Song et al., 2021):
      x_t = (alpha_t/alpha_s) x_s - sigma_t (e^h - 1) eps_s.
* DPM-Solver-2 (singlestep, Algorithm 1, r1 = 1/2): s1 = t(lambda_s + r1 h),
      u   = (alpha_s1/alpha_s) x_s - sigma_s1 (e^{r1 h} - 1) eps_s,
      x_t = (alpha_t/alpha_s) x_s - sigma_t (e^h - 1) eps_s
            - sigma_t/(2 r1) (e^h - 1) (eps(u, s1) - eps_s).
* DPM-Solver-3 (singlestep, Algorithm 2, r1 = 1/3, r2 = 2/3):
      u1  = (alpha_s1/alpha_s) x_s - sigma_s1 (e^{r1 h} - 1) eps_s,
      u2  = (alpha_s2/alpha_s) x_s - sigma_s2 (e^{r2 h} - 1) eps_s
            - sigma_s2 (r2/r1) ((e^{r2 h} - 1)/(r2 h) - 1) (eps(u1, s1) - eps_s),
      x_t = (alpha_t/alpha_s) x_s - sigma_t (e^h - 1) eps_s
            - sigma_t/r2 ((e^h - 1)/h - 1) (eps(u2, s2) - eps_s).
* DPM-Solver-fast (Lu et al., 2022a, Sec. 3.4), ``method="singlestep"``: for a budget of
  N model evaluations, singlestep steps of orders
  :func:`~diffax.samplers.dpm_solver_engine.singlestep_fast_orders` (mostly
  ``order``, ending with lower orders) whose evaluations sum to N exactly. Here
  ``timesteps`` lists the N + 1 times t_0 > ... > t_N at which the model is evaluated
  (t_N excepted): a step of order k spans k grid intervals, from t_c to t_{c+k}, with its
  intermediate stages at the grid times in between (r_j = (lambda_{c+j} - lambda_c)/h).
  On a grid uniform in time (or in sqrt(t)) this is the algorithm of the reference
  implementation's ``method="singlestep"``: its outer steps are the points of the N-step
  grid at the cumulative orders, and its inner stages the same grid's points in between.
  (For ``skip_type="logSNR"`` the reference instead takes K equal outer steps in lambda;
  here a uniform-lambda grid gives steps proportional to their order.)
* ``method="singlestep_fixed"``: order ``order`` on every step, ``timesteps`` are the
  steps' end points and the stages sit at lambda_s + r_j h (r1, r2 as above).
* Multistep DPM-Solver-2M / -3M (Lu et al., 2022b, "DPM-Solver++", Appendix; the
  noise-prediction counterparts of Algorithm 2): the derivatives come from the model
  values at the previous 1-2 grid points (divided differences on the lambda grid),
  one model evaluation per step; the first steps use lower orders (warm-up) and
  ``lower_order_final`` lowers the order of the last steps when N < 10. 2M uses the
  "dpmsolver" (midpoint) form, x_t = ... - sigma_t (e^h - 1) (eps_i + (eps_i -
  eps_{i-1})/(2 r)); 3M uses the Taylor form with the second divided difference
  weighted by its Taylor coefficient (the reference implementation weights it by half
  of that, which makes its 3M second order: see
  :func:`~diffax.samplers.exponential_integrators.multistep_weights`).

NFE for a grid of N steps (len(timesteps) - 1): N for ``"singlestep"`` (DPM-Solver-fast)
and ``"multistep"``; k N for ``"singlestep_fixed"`` of order k.

Orders: singlestep-fixed and multistep DPM-Solver-k have global order k (measured in
tests/samplers/test_dpm_solver.py). DPM-Solver-fast of order 3 ends with a first-order
step unless N = 2 (mod 3) (orders ..., 3, 2); in theory that step's O(h^2) local error
caps the asymptotic order at 2 for those budgets. On the oracle it is not visible (3.15
for N = 24, 48, 96, as for N = 23, 47, 95): the last step is short in lambda and the
model output hardly changes there. The rule is meant for small budgets; docs/samplers.md
compares it with fixed orders at NFE 5-50.
"""

from __future__ import annotations

import jax

from diffax.processes.base import GaussianProcess
from diffax.samplers.base import ModelFn, SampleOutput, predictor
from diffax.samplers.dpm_solver_family import checked_solve, register_variants

Array = jax.Array


@register_variants("dpm_solver")
def dpm_solver(model_fn: ModelFn, process: GaussianProcess, x_init: Array,
               timesteps: Array, *, prediction: str = "eps", key: Array | None = None,
               return_trajectory: bool = False, cond: dict | None = None, order: int = 2,
               method: str = "multistep", lower_order_final: bool = True,
               r1: float | None = None, r2: float | None = None,
               second_difference: str = "taylor") -> SampleOutput:
    """DPM-Solver (noise prediction), singlestep or multistep, order 1-3.

    Args:
      order: 1 (DDIM), 2 or 3.
      method: "multistep" (one evaluation per step), "singlestep" (DPM-Solver-fast:
        ``timesteps`` are the N + 1 evaluation times, steps of mixed orders up to
        ``order`` spend exactly N evaluations) or "singlestep_fixed" (``order``
        evaluations on every step, stages at lambda_s + r_j h). See the module doc.
      lower_order_final: multistep only; with fewer than 10 steps, step i uses order
        min(order, N - i) (Lu et al.'s reference implementation).
      r1, r2: "singlestep_fixed" stage fractions in lambda (defaults 1/2; 1/3 and 2/3).
      second_difference: third-order multistep only: "taylor" (default; third order) or
        "reference", the official code's and diffusers' half weight of the second divided
        difference (second order; to reproduce those papers' numbers), see
        :func:`~diffax.samplers.exponential_integrators.multistep_weights`.
    ``key`` is ignored (deterministic).
    """
    return checked_solve("dpm_solver",
                         lambda: predictor(model_fn, prediction, process, "eps", cond),
                         process, "eps", x_init, timesteps, order=order, method=method,
                         lower_order_final=lower_order_final, r1=r1, r2=r2,
                         return_trajectory=return_trajectory,
                         second_difference=second_difference)
