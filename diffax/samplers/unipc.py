"""UniPC: unified predictor-corrector multistep solver (Zhao et al., 2023, "UniPC: A
Unified Predictor-Corrector Framework for Fast Sampling of Diffusion Models").

Notation: lambda = log(alpha / sigma) is the *half* log-SNR (``process.log_snr / 2``),
step i goes from t_i to t_{i+1}, h_i = lambda_{i+1} - lambda_i, and m_j is the model
output at (x_j, t_j) in the solver's parameterization: the data prediction x0 for
``algorithm_type="data_prediction"`` (default, "UniPC with DPM-Solver++ style") or the
noise eps for ``"noise_prediction"``. Write hh = -h (data) or hh = +h (noise) and

    data:  x_hat = (sigma_{i+1}/sigma_i) x_i - alpha_{i+1} (e^{hh} - 1) m_i
    noise: x_hat = (alpha_{i+1}/alpha_i) x_i - sigma_{i+1} (e^{hh} - 1) m_i

(the DDIM / first-order exponential-integrator step); ``c`` denotes alpha_{i+1} (data)
or sigma_{i+1} (noise). With r_k = (lambda_{i-k} - lambda_i) / h and the divided
differences D_k = (m_{i-k} - m_i) / r_k (k = 1..p-1):

* UniP-p (predictor):
      x^p_{i+1} = x_hat - c B(hh) sum_{k=1}^{p-1} a_k D_k,
* UniC-p (corrector), with m^p = model(x^p_{i+1}, t_{i+1}) and
  D_p = m^p - m_i (r_p = 1):
      x^c_{i+1} = x_hat - c B(hh) (sum_{k=1}^{p-1} a^c_k D_k + a^c_p D_p).

The weights solve the order conditions (paper Sec. 3, the B(h) variants)
sum_k a_k r_k^{m-1} = m! phi_{m+1}(hh) hh / B(hh), m = 1..(#weights), with
phi_1(z) = (e^z - 1)/z, phi_{k+1}(z) = (phi_k(z) - 1/k!)/z, and B(h) = h ("bh1") or
B(h) = e^h - 1 ("bh2"). As in the reference implementation, a single weight is set to
1/2 instead (UniP-2 and UniC-1), which satisfies its order condition to O(h). Where the
weights are solved, B(h) cancels (a = R^{-1} g / B(h) is multiplied by B(h)), so "bh1"
and "bh2" differ only in the UniP-2 and UniC-1 updates (for p = 3: in the two warm-up
steps only).

The model evaluation m^p at the *predicted* point is reused as the history value m_{i+1}
of the next step, so the corrector costs no extra evaluation: NFE = N (one evaluation at
t_0, one per intermediate time t_1..t_{N-1}). At the last step the corrector would need
a model evaluation at t_N, so it is skipped (the reference implementation's behaviour):
the returned state is the UniP-p prediction x^p_N.

Orders: UniP-p has global order p; UniC raises it to p + 1 (the paper's claim), measured
on the Gaussian-mixture oracle for p = 1, 2, 3 in both parameterizations (see
tests/samplers/test_unipc.py). The first steps use lower orders (order min(p, i + 1) at
step i) because fewer past values exist. In principle the first step (UniP-1 + UniC-1,
local error O(h^3)) caps the asymptotic order of UniPC-3 at 3; measured, it is still 4.0
up to N = 1024 because the solution changes slowly at high noise.

``lower_order_final`` (default ``True``, the reference implementation's default, for
every N) caps the order of step i at N - i, so the last step is a first-order step
(DDIM) without corrector and the one before it at most second order. On grids whose last
step is long in lambda (uniform in time, the reference's default grid) a full-order
extrapolation there is unstable: on the oracle with a time-uniform grid, full order is
7x-24x less accurate at NFE 5-10 for the data-prediction UniPC-2 (bh1) and UniPC-3
(docs/samplers.md). The price: in theory one O(h^2) local error caps the global order at
2 for p >= 2 (measured in the convergence window: 3.3 instead of 3.9 for UniPC-3), and on
a uniform log-SNR grid the default is less accurate at some budgets (UniPC-3: 0.060
instead of 0.0088 at NFE 10). The convergence tests pass ``lower_order_final=False``.

All coefficients are precomputed from ``timesteps`` (a small Vandermonde solve per
step) before a branch-free ``lax.scan``; the final (corrector-free) step is unrolled
after the scan.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from diffax import checks
from diffax.processes.base import GaussianProcess
from diffax.samplers import exponential_integrators as ei
from diffax.samplers import multistep
from diffax.samplers.base import ModelFn, SampleOutput, check_timesteps, predictor
from diffax.samplers.registry import register

Array = jax.Array

ORDERS = (1, 2, 3)
VARIANTS = ("bh1", "bh2")
ALGORITHM_TYPES = ("data_prediction", "noise_prediction")


def _weights(r: Array, rhs: Array, n: int) -> Array:
    """Solve the Vandermonde system sum_k a_k r_k^{m-1} = rhs_m (m = 1..n) per step.

    The inverse Vandermonde matrix holds the monomial coefficients of the Lagrange basis
    polynomials l_k(x) = prod_{j != k} (x - r_j) / (r_k - r_j) on the nodes r, so
    a_k = sum_m [x^{m-1}] l_k(x) rhs_m. r: (N, n) distinct nodes, rhs: (N, >= n).
    """
    cols = []
    for k in range(n):
        poly = [jnp.ones_like(r[:, 0])]  # monomial coefficients, lowest degree first
        denom = jnp.ones_like(r[:, 0])
        for j in range(n):
            if j == k:
                continue
            # multiply by (x - r_j)
            shifted = [0.0] + poly
            scaled = [r[:, j] * c for c in poly] + [0.0]
            poly = [a - b for a, b in zip(shifted, scaled)]
            denom = denom * (r[:, k] - r[:, j])
        cols.append(sum(c * rhs[:, m] for m, c in enumerate(poly)) / denom)
    return jnp.stack(cols, -1)


def unipc_coefficients(process: GaussianProcess, ts: Array, *, order: int, variant: str,
                       algorithm_type: str, lower_order_final: bool):
    """Per-step coefficient tables of UniPC as linear combinations of the history.

    Returns ``(A, P, C, Ct)`` with shapes (N,), (N, p), (N, p), (N,) such that

        x^p_{i+1} = A_i x_i + sum_j P_ij m_{i-j}
        x^c_{i+1} = A_i x_i + sum_j C_ij m_{i-j} + Ct_i m^p_{i+1}.
    """
    n = ts.shape[0] - 1
    p = order
    data = algorithm_type == "data_prediction"
    lam = 0.5 * process.log_snr(ts)
    log_a, log_s = process.log_alpha(ts), process.log_sigma(ts)
    h = lam[1:] - lam[:-1]
    hh = -h if data else h
    if data:
        A = jnp.exp(log_s[1:] - log_s[:-1])
        scale = jnp.exp(log_a[1:])
    else:
        A = jnp.exp(log_a[1:] - log_a[:-1])
        scale = jnp.exp(log_s[1:])
    phis = ei.phis(hh, p + 1)
    # B(hh) = hh * beta;  rhs_m = m! phi_{m+1}(hh) hh / B(hh) = m! phi_{m+1} / beta.
    beta = jnp.ones_like(hh) if variant == "bh1" else phis[0]
    rhs = jnp.stack([math.factorial(m) * phis[m] / beta for m in range(1, p + 1)], -1)
    c0 = -scale * hh * phis[0]  # -c (e^{hh} - 1)
    cb = -scale * hh * beta  # -c B(hh)

    lam_prev = multistep.lagged_nodes(lam, range(1, p))  # lambda_{i-k}, k = 1..p-1
    r = (lam_prev - lam[:-1, None]) / h[:, None]  # (N, p - 1)
    ones = jnp.ones((n, 1), dtype=lam.dtype)

    orders = multistep.step_orders(n, p, lower_order_final=lower_order_final)
    P = jnp.zeros((n, p), dtype=lam.dtype)
    C = jnp.zeros((n, p), dtype=lam.dtype)
    Ct = jnp.zeros((n,), dtype=lam.dtype)
    for o in range(1, p + 1):
        if not np.any(orders == o):
            continue
        ro = r[:, : o - 1]
        # predictor weights a_1..a_{o-1}
        if o == 1:
            ap = jnp.zeros((n, 0), dtype=lam.dtype)
        elif o == 2:
            ap = jnp.full((n, 1), 0.5, dtype=lam.dtype)
        else:
            ap = _weights(ro, rhs, o - 1)
        # corrector weights a^c_1..a^c_o (the last one multiplies D_p = m^p - m_i)
        if o == 1:
            ac = jnp.full((n, 1), 0.5, dtype=lam.dtype)
        else:
            ac = _weights(jnp.concatenate([ro, ones], -1), rhs, o)
        pad = jnp.zeros((n, p - o), dtype=lam.dtype)
        Po = jnp.concatenate([(c0 - cb * jnp.sum(ap / ro, -1))[:, None],
                              cb[:, None] * ap / ro, pad], -1)
        Co = jnp.concatenate([(c0 - cb * (jnp.sum(ac[:, :-1] / ro, -1) + ac[:, -1]))[:, None],
                              cb[:, None] * ac[:, :-1] / ro, pad], -1)
        mask = jnp.asarray(orders == o)
        P = jnp.where(mask[:, None], Po, P)
        C = jnp.where(mask[:, None], Co, C)
        Ct = jnp.where(mask, cb * ac[:, -1], Ct)
    return A, P, C, Ct


def _check_options(order, variant, algorithm_type, corrector, lower_order_final):
    checks.choice("unipc", "order", order, ORDERS)
    checks.choice("unipc", "variant", variant, VARIANTS)
    checks.choice("unipc", "algorithm_type", algorithm_type, ALGORITHM_TYPES)
    checks.boolean("unipc", "corrector", corrector)
    checks.boolean("unipc", "lower_order_final", lower_order_final)


@register("unipc_bh1_1", order=2, options=dict(order=1, variant="bh1", corrector=True,
                                               algorithm_type="data_prediction"))
@register("unipc_bh1_2", order=3, options=dict(order=2, variant="bh1", corrector=True,
                                               algorithm_type="data_prediction"))
@register("unipc_bh1_3", order=4, options=dict(order=3, variant="bh1", corrector=True,
                                               algorithm_type="data_prediction"))
@register("unipc_bh2_1", order=2, options=dict(order=1, variant="bh2", corrector=True,
                                               algorithm_type="data_prediction"))
@register("unipc_bh2_2", order=3, options=dict(order=2, variant="bh2", corrector=True,
                                               algorithm_type="data_prediction"))
@register("unipc_bh2_3", order=4, options=dict(order=3, variant="bh2", corrector=True,
                                               algorithm_type="data_prediction"))
@register("unipc_bh2_1_noise", order=2, options=dict(order=1, variant="bh2", corrector=True,
                                                     algorithm_type="noise_prediction"))
@register("unipc_bh2_2_noise", order=3, options=dict(order=2, variant="bh2", corrector=True,
                                                     algorithm_type="noise_prediction"))
@register("unipc_bh2_3_noise", order=4, options=dict(order=3, variant="bh2", corrector=True,
                                                     algorithm_type="noise_prediction"))
@register("unip_bh2_1", order=1, options=dict(order=1, variant="bh2", corrector=False))
@register("unip_bh2_2", order=2, options=dict(order=2, variant="bh2", corrector=False))
@register("unip_bh2_3", order=3, options=dict(order=3, variant="bh2", corrector=False))
def unipc(model_fn: ModelFn, process: GaussianProcess, x_init: Array, timesteps: Array, *,
          prediction: str = "eps", key: Array | None = None, return_trajectory: bool = False,
          cond: dict | None = None, order: int = 2, variant: str = "bh2",
          algorithm_type: str = "data_prediction", corrector: bool = True,
          lower_order_final: bool = True) -> SampleOutput:
    """UniPC-p multistep sampler (deterministic; ``key`` is ignored). See module doc.

    Args:
      order: predictor order p in {1, 2, 3}; with the corrector the global order is p + 1.
      variant: ``"bh1"`` (B(h) = h) or ``"bh2"`` (B(h) = e^h - 1).
      algorithm_type: ``"data_prediction"`` (x0 model, default) or ``"noise_prediction"``.
      corrector: apply UniC after every step but the last (``False``: UniP-p only).
      lower_order_final: cap the order of step i at N - i (the reference's default; the
        last step is then first order). ``False`` keeps order p + 1 asymptotically.

    NFE = N = len(timesteps) - 1 in every configuration.
    """
    _check_options(order, variant, algorithm_type, corrector, lower_order_final)
    ts = check_timesteps(timesteps, process, name="unipc")
    ts = ts.astype(jnp.promote_types(ts.dtype, jnp.result_type(float)))
    n = ts.shape[0] - 1
    target = "x0" if algorithm_type == "data_prediction" else "eps"
    model = predictor(model_fn, prediction, process, target, cond)
    A, P, C, Ct = unipc_coefficients(process, ts, order=order, variant=variant,
                                     algorithm_type=algorithm_type,
                                     lower_order_final=lower_order_final)
    x, traj = multistep.run(model, x_init, ts, A, P, corrector=(C, Ct) if corrector else None,
                            return_trajectory=return_trajectory)
    return SampleOutput(x=x, trajectory=traj, nfe=n)
