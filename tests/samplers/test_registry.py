"""The sampler and schedule registries: names, decorator registration, option checks,
options bound by a name (refused overrides point to the right name), NFE budgets, the
adaptive entries. (Checks every sampler passes: test_conformance.py.)"""

import re

import jax
import jax.numpy as jnp
import pytest

from diffax.processes import VPLinear
from diffax.registry import Registry
from diffax.samplers import (SAMPLERS, SCHEDULES, get_sampler, get_schedule, register,
                             sampler_info, schedules)


def test_tables_are_registries_of_gaussian_entries():
    assert isinstance(SAMPLERS, Registry) and isinstance(SCHEDULES, Registry)
    assert len(SAMPLERS) >= 50 and SAMPLERS.names("gaussian") == sorted(
        set(SAMPLERS) - {"pfgmpp_heun"}) and SAMPLERS.names("pfgmpp") == ["pfgmpp_heun"]
    assert SCHEDULES.names("gaussian") == [
        "discrete", "karras", "quadratic_time", "uniform_log_snr", "uniform_time"]
    assert SCHEDULES.names("pfgmpp") == ["pfgmpp_karras"] and len(SCHEDULES) == 6
    assert SAMPLERS["ddim"] is sampler_info("ddim")


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


def test_unknown_names_list_the_choices_and_duplicates_are_refused():
    with pytest.raises(ValueError, match=r"unknown sampler 'dpm_solver_9' \(did you mean "
                                         r"'dpm_solver_1'\?\); valid choices: \[.*'euler'"):
        get_sampler("dpm_solver_9")
    with pytest.raises(ValueError, match=r"unknown schedule 'karas' \(did you mean "
                                         r"'karras'\?\); valid choices"):
        get_schedule("karas", VPLinear(), 10)
    with pytest.raises(ValueError, match="registered twice"):
        register("euler", order=1)(lambda model_fn, process, x_init, timesteps: None)


def test_registration_checks_the_bound_options():
    def sampler(model_fn, process, x_init, timesteps, *, order=1):
        return x_init

    with pytest.raises(ValueError, match=r"register\('my_sampler'\): unknown option\(s\) "
                                         r"\['ordr'\]"):
        register("my_sampler", order=1, options=dict(ordr=2))(sampler)
    assert "my_sampler" not in SAMPLERS


def test_schedule_options_are_checked():
    p = VPLinear()
    assert get_schedule("karras", p, 5, rho=5.0).shape == (6,)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['roh'\] \(did you mean "
                                         r"'rho'\?\); valid options: \['rho', 't_end', "
                                         r"'t_start'\]"):
        get_schedule("karras", p, 5, roh=5.0)


def test_free_options_reach_the_sampler():
    p = VPLinear()
    model = lambda x, t: 0.1 * x  # noqa: E731
    x = jnp.ones((4, 2))
    ts = schedules.uniform_time(p, 6)
    a = get_sampler("dpm_solver++_2m")(model, p, x, ts).x
    b = get_sampler("dpm_solver++_2m", lower_order_final=False)(model, p, x, ts).x
    assert jnp.all(jnp.isfinite(a)) and jnp.all(jnp.isfinite(b))
    assert float(jnp.abs(a - b).max()) > 0  # the override reached the sampler


@pytest.mark.parametrize("name,options,use", [
    ("dpm_solver_2m", dict(method="singlestep"), "dpm_solver_2s"),
    ("dpm_solver_2m", dict(order=3), "dpm_solver_3m"),
    ("dpm_solver++_2s", dict(method="singlestep_fixed"), "dpm_solver++_2s_fixed"),
    ("unipc_bh2_2", dict(corrector=False), "unip_bh2_2"),
    ("unipc_bh2_2", dict(algorithm_type="noise_prediction"), "unipc_bh2_2_noise"),
    ("deis_tab_3", dict(basis="rho"), "deis_rhoab_3"),
    ("plms", dict(variant="f_pndm"), "f_pndm"),
])
def test_bound_options_are_refused_with_the_right_name(name, options, use):
    """Overriding an option a name fixes would leave its metadata (order, NFE per step
    count) describing another method, and a caller budgeting with ``steps_for_nfe``
    would spend the wrong NFE (e.g. dpm_solver_2s with method='singlestep_fixed' spends
    2 N). The error names the registered name to use."""
    match = "fixes .* use " + re.escape(repr(use))
    with pytest.raises(ValueError, match=match):
        get_sampler(name, **options)
    with pytest.raises(ValueError, match=match):  # also at call time
        get_sampler(name)(lambda x, t: x, VPLinear(), jnp.ones((2, 2)),
                          schedules.uniform_time(VPLinear(), 4), **options)


def test_adaptive_samplers_are_selectable_by_name():
    """No NFE budget applies: steps_for_nfe gives one interval [t_max, t_min] for any
    budget and ``nfe(N)`` is the bound of the default max_steps (conformance runs them
    and checks the NFE they report)."""
    assert sorted(n for n in SAMPLERS if sampler_info(n).adaptive) == [
        "diffrax_pf_ode", "dpm_solver_adaptive_12", "dpm_solver_adaptive_23"]
    for name in ("dpm_solver_adaptive_12", "dpm_solver_adaptive_23", "diffrax_pf_ode"):
        info = sampler_info(name)
        assert info.order is None and not info.stochastic and info.family == "gaussian"
        assert [info.steps_for_nfe(b) for b in (1, 15, 1000)] == [1, 1, 1]
        assert info.nfe(1) >= 1000


def test_a_sampler_refuses_a_process_of_another_family():
    from diffax.processes.pfgmpp import PFGMPP

    p = PFGMPP(D=128, data_dim=2)
    with pytest.raises(ValueError, match=r"'edm_heun' works on 'gaussian' processes.*"
                                         r"pfgmpp_heun"):
        get_sampler("edm_heun")(lambda x, t: x, p, jnp.zeros((2, 2)),
                                jnp.asarray([1.0, 0.5]))
