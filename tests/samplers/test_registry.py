"""The sampler registry: names, metadata, NFE accounting, errors."""

import jax
import jax.numpy as jnp
import pytest

from diffax.processes import DiscreteDDPM, VPLinear
from diffax.samplers import SAMPLERS, get_sampler, register, sampler_info, schedules


def test_every_registered_sampler_declares_consistent_metadata():
    assert len(SAMPLERS) >= 40
    for name, info in SAMPLERS.items():
        assert info.name == name
        assert info.stochastic == (info.order is None) or name in {"annealed_langevin"}
        for budget in [5, 10, 20, 50]:
            n = info.steps_for_nfe(budget)
            if info.nfe(n) <= budget:
                assert info.nfe(n + 1) > budget, name  # the largest N that fits


def test_registry_nfe_matches_reported_nfe():
    p = VPLinear()
    model = lambda x, t: 0.1 * x  # noqa: E731
    x = jnp.ones((4, 2))
    for name in ["euler", "dpm_solver_2s", "dpm_solver++_3s", "dpm_solver_3s_fixed", "edm_heun",
                 "f_pndm", "unipc_bh2_3", "pc_langevin"]:
        info = sampler_info(name)
        ts = schedules.uniform_time(p, 7)
        out = info(model, p, x, ts, key=jax.random.PRNGKey(0))
        assert out.nfe == info.nfe(7), name


def test_nfe_budgets_are_spent_exactly_by_the_fast_singlestep_defaults():
    """DPM-Solver(++)-fast spends every budget: steps_for_nfe(b) = b grid steps, nfe = b,
    and the output reports b (orders from singlestep_fast_orders); the fixed-order
    variants spend the largest multiple of their order that fits."""
    p = VPLinear()
    model = lambda x, t: 0.1 * x  # noqa: E731
    x = jnp.ones((2, 2))
    for name in ["dpm_solver_2s", "dpm_solver_3s", "dpm_solver++_2s", "dpm_solver++_3s"]:
        info = sampler_info(name)
        for budget in range(1, 12):
            n = info.steps_for_nfe(budget)
            assert n == budget and info.nfe(n) == budget
        out = jax.eval_shape(lambda x: info(model, p, x, schedules.uniform_time(p, 7)), x)
        assert out.nfe == 7
        fixed = sampler_info(name + "_fixed")
        k = fixed.options["order"]
        assert [fixed.nfe(fixed.steps_for_nfe(b)) for b in (5, 10)] == [5 // k * k, 10 // k * k]


def test_unknown_name_lists_choices_and_duplicates_rejected():
    with pytest.raises(ValueError, match=r"unknown sampler 'dpm_solver_9'.*valid choices.*euler"):
        get_sampler("dpm_solver_9")
    with pytest.raises(ValueError, match="registered twice"):
        register("euler", lambda *a, **k: None, order=1)


def test_get_sampler_binds_and_overrides_options():
    p = VPLinear()
    model = lambda x, t: 0.1 * x  # noqa: E731
    x = jnp.ones((4, 2))
    ts = schedules.uniform_time(p, 6)
    a = get_sampler("dpm_solver++_2m")(model, p, x, ts).x
    b = get_sampler("dpm_solver++_2m", lower_order_final=False)(model, p, x, ts).x
    assert jnp.all(jnp.isfinite(a)) and jnp.all(jnp.isfinite(b))
    assert float(jnp.abs(a - b).max()) > 0  # the override reached the sampler


@pytest.mark.parametrize("name", ["euler", "dpm_solver++_3m", "unipc_bh2_2", "deis_tab_2",
                                  "ipndm", "edm_heun", "bdia", "ancestral"])
def test_gradient_wrt_model_parameters_matches_finite_difference(x64, name):
    """Samplers differentiate through the model: d/dw of a loss on the samples."""
    import jax

    p = VPLinear()
    x = jax.random.normal(jax.random.PRNGKey(0), (8, 2), jnp.float64)
    ts = schedules.uniform_log_snr(p, 6)
    key = jax.random.PRNGKey(1)

    def loss(w):
        model = lambda x, t: w[0] * jnp.tanh(x) + w[1] * t[:, None] * x  # noqa: E731
        return jnp.sum(get_sampler(name)(model, p, x, ts, key=key).x ** 2)

    w = jnp.array([0.4, 0.2])
    g = jax.grad(loss)(w)
    eps = 1e-6
    fd = jnp.array([(loss(w + eps * e) - loss(w - eps * e)) / (2 * eps) for e in jnp.eye(2)])
    assert jnp.all(jnp.isfinite(g))
    assert jnp.allclose(g, fd, rtol=1e-5, atol=1e-7), (g, fd)


def _one_per_code_path() -> list[str]:
    """The first and last registered sampler of every module, plus the variants that
    take their own loop (singlestep fast and fixed, SDE, noise-prediction UniPC, UniP, PNDM
    warm-ups)."""
    by_module: dict[str, list[str]] = {}
    for name in sorted(SAMPLERS):
        by_module.setdefault(SAMPLERS[name].fn.__module__, []).append(name)
    names = {n for group in by_module.values() for n in (group[0], group[-1])}
    names |= {"dpm_solver_2s", "dpm_solver++_3s", "dpm_solver_3s_fixed", "dpm_solver++_2s_fixed",
              "sde_dpm_solver++_2m", "unipc_bh2_3_noise",
              "unip_bh2_1", "f_pndm", "plms", "ipndm", "edm_heun_stochastic", "ddim_eta1"}
    return sorted(names)


def test_samplers_keep_float32_state_with_float64_tables(x64):
    """One sampler per code path; x64 enabled, float32 x, float64 schedule tables
    (DiscreteDDPM's betas are a strong float64 array), a float64 or float32 time grid and a
    network that returns float64: the state stays float32 and no (inner) scan fails on a
    carry dtype change."""
    p = DiscreteDDPM.linear(100, 1e-3, 0.1)
    x = jnp.ones((2, 2), jnp.float32)
    model = lambda x, t, **c: jnp.tanh(x.astype(jnp.float64))  # noqa: E731  (a float64 network)
    for i, name in enumerate(_one_per_code_path()):
        info = sampler_info(name)
        ts = schedules.uniform_time(p, max(info.steps_for_nfe(4), 4))
        assert ts.dtype == jnp.float64
        if i % 2:  # a float32 grid: only the process's own tables are float64
            ts = ts.astype(jnp.float32)
        kw = {"key": jax.random.PRNGKey(0)} if info.stochastic else {}
        # dtypes are fixed at trace time: tracing (no compile) checks every carry
        out = jax.eval_shape(lambda x, ts=ts, kw=kw, name=name: get_sampler(name)(
            model, p, x, ts, **kw), x)
        assert out.x.dtype == jnp.float32, name
