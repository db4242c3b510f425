"""The sampler registry: names, metadata, NFE accounting, errors."""

import jax.numpy as jnp
import pytest

from diffax.processes import VPLinear
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
    for name in ["euler", "dpm_solver_2s", "edm_heun", "f_pndm", "unipc_bh2_3", "pc_langevin"]:
        info = sampler_info(name)
        ts = schedules.uniform_time(p, 7)
        import jax
        out = info(model, p, x, ts, key=jax.random.PRNGKey(0))
        assert out.nfe == info.nfe(7), name


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
