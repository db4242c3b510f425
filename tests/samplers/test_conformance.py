"""Conformance of every registered sampler: the checks each sampler must pass whatever its
algorithm, parametrised over ``diffax.samplers.SAMPLERS`` so that a new sampler gets
them by registering. Oracle answers and convergence orders stay in the per-sampler files.

* metadata: family, bound options the function accepts, NFE accounting;
* options: a misspelt or unknown option, an override of a bound option, an unknown
  prediction kind, an increasing grid and a missing key raise ``ValueError``, with and
  without jit (``chex.variants``; they raise while tracing);
* float32 stays float32 with float64 schedule tables (x64 on, traced only);
* jit (one trace per grid length, timesteps traced), the trajectory's ends, the exact NFE,
  vmap over batches equal to separate calls, and the derivative with respect to a scalar
  model parameter against a central finite difference (float64), compiled once per
  sampler on a 4-step grid with a 2 x 2 state.
"""

import re

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from absl.testing import parameterized

from diffax.processes import DiscreteDDPM, VPLinear
from diffax.samplers import SAMPLERS, get_sampler, sampler_info, schedules

NAMES = SAMPLERS.names("gaussian")  # the PFGM++ sampler: tests/samplers/test_pfgmpp_sampler.py
STEPS = 4  # F-PNDM needs 4 steps
# Options for the jit/vmap/grad test. Reverse mode through a while loop is impossible:
# the adaptive DPM-Solver runs its scan loop (same trials and results as the default
# while loop, tested in its own file). diffrax differentiates the discretisation with
# its step sizes held fixed, which differs from the derivative of the solution by about
# 100x the tolerance (measured: 2.7e-5 relative at rtol = atol = 1e-7, 5e-8 at 1e-9).
TEST_OPTIONS = {"dpm_solver_adaptive_12": {"loop": "scan", "max_steps": 64},
                "dpm_solver_adaptive_23": {"loop": "scan", "max_steps": 64},
                "diffrax_pf_ode": {"rtol": 1e-10, "atol": 1e-10}}


def model(x, t):
    """A smooth eps-model (cheap to compile)."""
    return 0.4 * jnp.tanh(x) + 0.2 * t[:, None] * x


def _key_kw(name):
    return {"key": jax.random.PRNGKey(0)} if sampler_info(name).stochastic else {}


# ---- metadata ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_metadata(name):
    info = sampler_info(name)
    assert info.name == name and info.family == SAMPLERS.family(name) == "gaussian"
    info.check(info.options)  # the bound options are options of the function
    if info.adaptive:
        assert info.order is None and all(info.steps_for_nfe(b) == 1 for b in (1, 10, 100))
        return
    # annealed Langevin and the segmented consistency sampler (its steps are the model's own
    # boundaries, not a PF-ODE discretisation) have no ODE order
    assert info.stochastic == (info.order is None) or name in ("annealed_langevin",
                                                               "segmented_consistency")
    for budget in (5, 10, 20, 50):
        n = info.steps_for_nfe(budget)
        if info.nfe(n) <= budget:
            assert info.nfe(n + 1) > budget  # the largest N that fits


# ---- options -------------------------------------------------------------------------------

def _other_value(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    return f"not_{value}"


@pytest.mark.parametrize("name", NAMES)
def test_unknown_and_bound_options_are_refused(name):
    info = sampler_info(name)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['predicton'\] \(did you "
                                         r"mean 'prediction'\?\); valid options: \[.*'cond'"):
        get_sampler(name, predicton="eps")
    for key, value in info.options.items():
        fixed = re.escape(f"sampler {name!r} fixes {key}={value!r}")
        with pytest.raises(ValueError, match=fixed):
            get_sampler(name, **{key: _other_value(value)})
        with pytest.raises(ValueError, match=fixed):  # at call time too
            get_sampler(name)(model, VPLinear(), jnp.zeros((2, 2)),
                              schedules.uniform_time(VPLinear(), STEPS),
                              **{key: _other_value(value)})
        get_sampler(name, **{key: value})  # restating a bound value is fine


class BadInputsTest(chex.TestCase):
    """Invalid inputs raise while tracing, so with and without jit alike."""

    @chex.variants(with_jit=True, without_jit=True)
    @parameterized.named_parameters((n, n) for n in NAMES)
    def test_bad_inputs_raise(self, name):
        p = VPLinear()
        x = jnp.zeros((2, 2))
        ts = schedules.uniform_time(p, STEPS)
        sampler = get_sampler(name)
        kw = _key_kw(name)
        cases = [({**kw, "prediction": "noise"}, ts, "unknown prediction kind"),
                 (kw, ts[::-1], "decrease strictly")]
        if kw:
            cases.append(({}, ts, "key"))
        for options, grid, match in cases:
            # the grid is closed over: concrete grids are validated
            run = self.variant(lambda x, grid=grid, options=options:
                               sampler(model, p, x, grid, **options).x)
            with pytest.raises(ValueError, match=match):
                run(x)


# ---- dtypes ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_float32_state_stays_float32_with_float64_tables(x64, name):
    """x64 on, float32 x, float64 schedule tables (DiscreteDDPM's betas), a float64 time
    grid and a network that returns float64: the state and trajectory stay float32 and no
    (inner) scan fails on a carry dtype change. Dtypes are fixed at trace time, so
    tracing (jax.eval_shape, no compile) checks every carry."""
    p = DiscreteDDPM.linear(100, 1e-3, 0.1)
    x = jnp.ones((2, 2), jnp.float32)
    ts = schedules.uniform_time(p, STEPS)
    chex.assert_type(ts, jnp.float64)
    net = lambda x, t: jnp.tanh(x.astype(jnp.float64))  # noqa: E731
    out = jax.eval_shape(lambda x: get_sampler(name)(net, p, x, ts, return_trajectory=True,
                                                     **_key_kw(name)), x)
    chex.assert_type([out.x, out.trajectory], jnp.float32)
    chex.assert_shape(out.trajectory, (STEPS + 1, 2, 2))


# ---- jit, vmap, derivative ------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_jit_vmap_grad_and_exact_nfe(x64, name):
    info = sampler_info(name)
    p = VPLinear()
    sampler = get_sampler(name, **TEST_OPTIONS.get(name, {}))
    kw = _key_kw(name)
    xs = p.prior_sample(jax.random.PRNGKey(1), (2, 2, 2), jnp.float64)  # two batches
    u = jnp.array([[0.3, -1.1], [0.7, 0.2]])
    traces = []

    def run(x, ts, w, **extra):
        return sampler(lambda x, t: w * model(x, t), p, x, ts, **kw, **extra)

    @jax.jit
    def checks(x, xs, ts, w):
        traces.append(1)

        def loss(w):
            out = run(x, ts, w, return_trajectory=True)
            return jnp.sum(u * out.x), out

        (value, out), grad = jax.value_and_grad(loss, has_aux=True)(w)
        batched = jax.vmap(lambda xb: run(xb, ts, w).x)(xs)
        return out, batched, value, grad

    ts = schedules.uniform_log_snr(p, STEPS)  # traced: the tables are built under jit
    out, batched, _, grad = checks(xs[0], xs, ts, 1.0)
    out1 = checks(xs[1], xs, ts, 1.0)[0]

    chex.assert_shape(out.trajectory, (STEPS + 1, 2, 2))
    chex.assert_tree_all_finite((out.x, batched, grad))
    # bitwise: the trajectory stores x_init and the final carry themselves
    np.testing.assert_array_equal(out.trajectory[0], xs[0])
    np.testing.assert_array_equal(out.trajectory[-1], out.x)
    if info.adaptive:
        assert bool(out.success) and 1 <= int(out.nfe) <= info.nfe(STEPS)
    else:
        assert out.nfe == info.nfe(STEPS)
    # vmap over batches equals separate calls, up to XLA's rounding
    chex.assert_trees_all_close(batched, jnp.stack([out.x, out1.x]), rtol=1e-12, atol=1e-12)

    eps = 1e-6  # central difference: truncation ~eps^2, rounding ~1e-16/eps
    value_p, value_m = (checks(xs[0], xs, ts, 1.0 + s)[2] for s in (eps, -eps))
    np.testing.assert_allclose(grad, (value_p - value_m) / (2 * eps), rtol=1e-6)
    assert len(traces) == 1  # one compilation for all calls
