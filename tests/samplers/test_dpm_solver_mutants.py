"""``diffax.samplers.dpm_solver.dpm_solver`` (Lu et al., 2022a, "DPM-Solver"), written for
its mutation run (docs/testing.md): the entry point's own defaults and what it hands to
``checked_solve``, through a recording stand-in (the earlier tests call it through the
registry, whose variants pass ``order`` and ``method`` themselves, so a changed default of
the function is invisible there), and the model converted to a noise prediction
eps = (x - alpha_t x0)/sigma_t with ``cond`` passed on."""

import jax.numpy as jnp
import numpy as np
import pytest

from diffax.processes import VPLinear
from diffax.samplers import dpm_solver as mod

P = VPLinear()
X = np.array([[0.5, -1.0], [2.0, 0.25]])
TS = jnp.array([0.9, 0.5, 0.2])


@pytest.fixture
def recorded(monkeypatch):
    seen = []
    monkeypatch.setattr(mod, "checked_solve",
                        lambda *a, **kw: seen.append((a, kw)) or "out")
    return seen


def test_defaults_reach_checked_solve(recorded):
    assert mod.dpm_solver(lambda x, t: x, P, X, TS) == "out"
    (name, make_f, process, param, x, ts), kw = recorded[0]
    assert name == "dpm_solver" and process is P and param == "eps"
    assert x is X and ts is TS
    assert kw == dict(order=2, method="multistep", lower_order_final=True, r1=None,
                      r2=None, return_trajectory=False, second_difference="taylor")


def test_every_option_reaches_checked_solve(recorded):
    mod.dpm_solver(lambda x, t: x, P, X, TS, order=3, method="singlestep_fixed",
                   lower_order_final=False, r1=0.2, r2=0.7, return_trajectory=True,
                   second_difference="reference", key=object())
    assert recorded[0][1] == dict(order=3, method="singlestep_fixed",
                                  lower_order_final=False, r1=0.2, r2=0.7,
                                  return_trajectory=True, second_difference="reference")


def test_the_model_becomes_a_noise_prediction_with_cond(recorded, x64):
    seen = []

    def x0_model(x, t, *, label):
        seen.append(label)
        return 0.5 * x + t[:, None]

    mod.dpm_solver(x0_model, P, jnp.asarray(X), TS, prediction="x0", cond={"label": 7})
    f = recorded[0][0][1]()  # checked_solve builds the predictor lazily
    t = 0.6
    got = f(jnp.asarray(X), jnp.asarray(t))
    a, s = float(P.alpha(jnp.asarray(t))), float(P.sigma(jnp.asarray(t)))
    x = X
    want = (x - a * (0.5 * x + t)) / s
    np.testing.assert_allclose(got, want, rtol=1e-12)  # float64 rounding only
    assert seen == [7]
    # the default prediction is eps: the model's output is returned as it is
    mod.dpm_solver(lambda x, t: 3.0 * x, P, jnp.asarray(X), TS)
    np.testing.assert_array_equal(recorded[1][0][1]()(jnp.asarray(X), jnp.asarray(t)),
                                  3.0 * X)
