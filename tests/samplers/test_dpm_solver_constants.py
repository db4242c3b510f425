"""DPM-Solver's constants, pinned to Lu et al. (NeurIPS 2022) through the times at which
the solvers call the model (recorded by a spy model run without jit):

* singlestep stage fractions: DPM-Solver-2 evaluates at lambda_s + h/2 (Algorithm 1,
  r1 = 1/2), DPM-Solver-3 at lambda_s + h/3 and lambda_s + 2h/3 (Algorithm 2, r1 = 1/3,
  r2 = 2/3), for noise and data prediction;
* the adaptive solver (Algorithm 4): h_init = 0.05, theta = 0.9, atol = 0.0078,
  rtol = 0.05, acceptance E <= 1, the step exponent -1/order. The trial sequence is
  compared with a transcription of Algorithm 4 on a model whose DPM-Solver-1/2 pair has a
  closed form, so a nudged constant changes the sequence.

(Any r1 gives a method of the same order, and the adaptive solver meets its tolerance with
other constants too: the convergence tests cannot see these numbers.)
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dpm_solver_by_hand as H
from diffax.processes import get_process
from diffax.samplers import get_sampler, schedules
from diffax.samplers import exponential_integrators as ei

PROCESS = get_process("vp_linear")


def _lam(t) -> np.ndarray:
    return np.asarray(ei.half_log_snr(PROCESS, jnp.asarray(t)))


def _spy(model):
    """(model wrapper, list of the times it was called at)."""
    calls = []

    def wrapped(x, t, **kw):
        calls.append(float(np.asarray(t).ravel()[0]))
        return model(x, t)

    return wrapped, calls


@pytest.mark.parametrize("family", ["dpm_solver", "dpm_solver++"])
@pytest.mark.parametrize("order,fractions", [(2, (0.5,)), (3, (1 / 3, 2 / 3))])
def test_singlestep_stage_fractions(x64, family, order, fractions):
    steps = 3
    ts = schedules.get_schedule("uniform_log_snr", PROCESS, steps)
    model, calls = _spy(lambda x, t: 0.1 * x)
    with jax.disable_jit():
        get_sampler(f"{family}_{order}s_fixed")(
            model, PROCESS, jnp.ones((2, 3)), ts,
            prediction="eps" if family == "dpm_solver" else "x0")
    assert len(calls) == order * steps
    lam_grid, lam_calls = _lam(ts), _lam(np.asarray(calls)).reshape(steps, order)
    h = np.diff(lam_grid)
    np.testing.assert_allclose(lam_calls[:, 0], lam_grid[:-1], rtol=0, atol=1e-10)
    for j, r in enumerate(fractions, start=1):
        np.testing.assert_allclose(lam_calls[:, j], lam_grid[:-1] + r * h, rtol=0, atol=1e-10)


def _g(t, amp=1.0):
    """The model's noise prediction, the same for every x: eps(x, t) = g(t) 1."""
    return amp * (3.0 * np.sin(9.0 * t) + 2.0 * t)


def _algorithm4_calls(x0: np.ndarray, t0: float, t1: float, amp: float) -> list[float]:
    """The times at which Lu et al.'s Algorithm 4 with DPM-Solver-12 calls the model
    eps(x, t) = g(t) 1, from the NumPy transcription (dpm_solver_by_hand.algorithm4, the
    paper's defaults h_init = 0.05, theta = 0.9, atol = 0.0078, rtol = 0.05)."""
    calls = []

    def model(x, t, xp):
        calls.append(float(t[0]))
        return np.broadcast_to(_g(t, amp)[:, None], x.shape)

    H.algorithm4("eps", 2, x0, [t0, t1], model=model)
    return calls


# x = 0: delta = atol (13 trials, 1 rejected); x = 30: delta = rtol |x| = 1.5 >> atol
# (17 trials, 3 rejected)
@pytest.mark.parametrize("scale,amp", [(0.0, 1.0), (30.0, 10.0)])
def test_adaptive_controller_follows_algorithm_4(x64, scale, amp):
    t0, t1 = float(PROCESS.t_max), float(PROCESS.t_min)
    x0 = scale * np.ones((1, 4))
    want = _algorithm4_calls(x0, t0, t1, amp)
    model, calls = _spy(lambda x, t: jnp.broadcast_to(_g(t, amp), x.shape))
    with jax.disable_jit():
        out = get_sampler("dpm_solver_adaptive_12")(model, PROCESS, jnp.asarray(x0),
                                                    jnp.asarray([t0, t1]), prediction="eps")
    assert bool(out.success)
    rejected = int(out.num_rejected)
    assert rejected > 0  # the case exercises rejections, not only growth
    assert len(calls) == len(want) == int(out.nfe)
    np.testing.assert_allclose(calls, want, rtol=1e-9, atol=1e-12)


def test_adaptive_23_stage_fractions(x64):
    """DPM-Solver-23 trials: stages at lambda_s + h/3 and + 2h/3 (r2 = 2 r1)."""
    model, calls = _spy(lambda x, t: jnp.broadcast_to(_g(t), x.shape))
    with jax.disable_jit():
        get_sampler("dpm_solver_adaptive_23")(model, PROCESS, jnp.zeros((1, 4)),
                                              jnp.asarray([PROCESS.t_max, PROCESS.t_min]))
    lam = _lam(np.asarray(calls)).reshape(-1, 3)
    np.testing.assert_allclose(lam[:, 2] - lam[:, 0], 2 * (lam[:, 1] - lam[:, 0]), rtol=1e-9)
    # the first trial uses h_init = 0.05: its stages sit at 0.05/3 and 2 x 0.05/3
    np.testing.assert_allclose(lam[0, 1:] - lam[0, 0], [0.05 / 3, 0.1 / 3], rtol=1e-9)
