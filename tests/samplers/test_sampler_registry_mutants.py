"""``diffax/samplers/registry.py`` against its module docstring, written for its mutation run
(docs/testing.md).

* The name table: every registered name, the function it runs and the options it binds,
  its order, whether it is stochastic or adaptive, its NFE for 3 steps and its process
  family, written out from the samplers' papers and docstrings (a renamed, dropped or
  re-bound entry fails here); the unknown-name message lists exactly these names.
* The mechanics on a fresh table (``SAMPLERS`` monkeypatched, so that the library's table
  and the other tests never see the toy entries): ``register`` and its defaults, the NFE
  budget rule "largest N with nfe(N) <= budget, else 1" against a brute-force search,
  option checks, the refusal of an overridden bound option with the names to use in the
  documented order (those that agree on the other bound options first), the family check
  at call time, ``sampler_info`` and ``get_sampler``; every message in full.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from linear_step_problem import refusal
from diffax.processes import VPLinear
from diffax.processes.pfgmpp import PFGMPP
from diffax.registry import Registry
from diffax.samplers import registry as reg

# name: (module.function, bound options, order, stochastic, adaptive, nfe(3), family)
TABLE = {
    "bdia": ("bdia.bdia", dict(gamma=1.0), 2, False, False, 3, "gaussian"),
    "consistency": ("consistency.consistency", {}, None, True, False, 3, "gaussian"),
    "ddim": ("ddim.ddim", dict(eta=0.0), 1, False, False, 3, "gaussian"),
    "ddim_eta1": ("ddim.ddim", dict(eta=1.0), None, True, False, 3, "gaussian"),
    "deis_rhoab_2": ("deis.deis", dict(order=2, basis="rho"), 2, False, False, 3, "gaussian"),
    "deis_rhoab_3": ("deis.deis", dict(order=3, basis="rho"), 3, False, False, 3, "gaussian"),
    "deis_tab_1": ("deis.deis", dict(order=1, basis="t"), 1, False, False, 3, "gaussian"),
    "deis_tab_2": ("deis.deis", dict(order=2, basis="t"), 2, False, False, 3, "gaussian"),
    "deis_tab_3": ("deis.deis", dict(order=3, basis="t"), 3, False, False, 3, "gaussian"),
    "diffrax_pf_ode": ("reference.diffrax_pf_ode", {}, None, False, True, 13 * 4096 + 1,
                       "gaussian"),
    "dpm_solver_1": ("dpm_solver.dpm_solver", dict(order=1, method="singlestep"), 1, False,
                     False, 3, "gaussian"),
    "dpm_solver_2m": ("dpm_solver.dpm_solver", dict(order=2, method="multistep"), 2, False,
                      False, 3, "gaussian"),
    "dpm_solver_2s": ("dpm_solver.dpm_solver", dict(order=2, method="singlestep"), 2, False,
                      False, 3, "gaussian"),
    "dpm_solver_2s_fixed": ("dpm_solver.dpm_solver", dict(order=2, method="singlestep_fixed"),
                            2, False, False, 6, "gaussian"),
    "dpm_solver_3m": ("dpm_solver.dpm_solver", dict(order=3, method="multistep"), 3, False,
                      False, 3, "gaussian"),
    "dpm_solver_3s": ("dpm_solver.dpm_solver", dict(order=3, method="singlestep"), 3, False,
                      False, 3, "gaussian"),
    "dpm_solver_3s_fixed": ("dpm_solver.dpm_solver", dict(order=3, method="singlestep_fixed"),
                            3, False, False, 9, "gaussian"),
    "dpm_solver_adaptive_12": ("dpm_solver_adaptive.dpm_solver_adaptive", dict(order=2), None,
                               False, True, 2000, "gaussian"),
    "dpm_solver_adaptive_23": ("dpm_solver_adaptive.dpm_solver_adaptive", dict(order=3), None,
                               False, True, 3000, "gaussian"),
    "dpm_solver++_1": ("dpm_solver_pp.dpm_solver_pp", dict(order=1, method="singlestep"), 1,
                       False, False, 3, "gaussian"),
    "dpm_solver++_2m": ("dpm_solver_pp.dpm_solver_pp", dict(order=2, method="multistep"), 2,
                        False, False, 3, "gaussian"),
    "dpm_solver++_2s": ("dpm_solver_pp.dpm_solver_pp", dict(order=2, method="singlestep"), 2,
                        False, False, 3, "gaussian"),
    "dpm_solver++_2s_fixed": ("dpm_solver_pp.dpm_solver_pp",
                              dict(order=2, method="singlestep_fixed"), 2, False, False, 6,
                              "gaussian"),
    "dpm_solver++_3m": ("dpm_solver_pp.dpm_solver_pp", dict(order=3, method="multistep"), 3,
                        False, False, 3, "gaussian"),
    "dpm_solver++_3s": ("dpm_solver_pp.dpm_solver_pp", dict(order=3, method="singlestep"), 3,
                        False, False, 3, "gaussian"),
    "dpm_solver++_3s_fixed": ("dpm_solver_pp.dpm_solver_pp",
                              dict(order=3, method="singlestep_fixed"), 3, False, False, 9,
                              "gaussian"),
    "edm_heun": ("edm_heun.edm_heun", dict(final_euler=False), 2, False, False, 6, "gaussian"),
    "edm_heun_stochastic": ("edm_heun.edm_heun_stochastic", dict(final_euler=False), None,
                            True, False, 6, "gaussian"),
    "euler": ("euler.euler", {}, 1, False, False, 3, "gaussian"),
    "pc_langevin": ("langevin.pc_sampler",
                    dict(predictor="reverse_diffusion", n_corrector_steps=1), None, True,
                    False, 6, "gaussian"),
    "annealed_langevin": ("langevin.annealed_langevin", dict(steps_per_level=100), None, True,
                          False, 300, "gaussian"),
    "pfgmpp_heun": ("pfgmpp.pfgmpp_heun", dict(final_euler=False), 2, False, False, 6,
                    "pfgmpp"),
    "ipndm": ("pndm.pndm", dict(variant="ipndm"), 2, False, False, 3, "gaussian"),
    "plms": ("pndm.pndm", dict(variant="plms"), 2, False, False, 4, "gaussian"),
    "f_pndm": ("pndm.pndm", dict(variant="f_pndm"), 2, False, False, 12, "gaussian"),
    "s_pndm": ("pndm.pndm", dict(variant="s_pndm"), 2, False, False, 4, "gaussian"),
    "euler_maruyama": ("sde.euler_maruyama", {}, None, True, False, 3, "gaussian"),
    "reverse_diffusion": ("sde.reverse_diffusion", {}, None, True, False, 3, "gaussian"),
    "ancestral": ("sde.ancestral", {}, None, True, False, 3, "gaussian"),
    "sde_dpm_solver++_2m": ("dpm_solver_pp.sde_dpm_solver_pp", dict(order=2), None, True,
                            False, 3, "gaussian"),
    "segmented_consistency": ("segmented_consistency.segmented_consistency", {}, None, False,
                              False, 3, "gaussian"),
}
for _v in ("bh1", "bh2"):
    for _k in (1, 2, 3):  # UniPC-p: order p; the corrector UniC raises it by one
        TABLE[f"unipc_{_v}_{_k}"] = ("unipc.unipc", dict(
            order=_k, variant=_v, corrector=True, algorithm_type="data_prediction"), _k + 1,
            False, False, 3, "gaussian")
for _k in (1, 2, 3):
    TABLE[f"unipc_bh2_{_k}_noise"] = ("unipc.unipc", dict(
        order=_k, variant="bh2", corrector=True, algorithm_type="noise_prediction"), _k + 1,
        False, False, 3, "gaussian")
    TABLE[f"unip_bh2_{_k}"] = ("unipc.unipc", dict(order=_k, variant="bh2", corrector=False),
                               _k, False, False, 3, "gaussian")


# ---- the library's table ---------------------------------------------------------------

def test_every_name_runs_the_right_function_with_its_options():
    assert sorted(reg.SAMPLERS) == sorted(TABLE)
    for name, (fn, options, order, stochastic, adaptive, nfe3, family) in TABLE.items():
        info = reg.sampler_info(name)
        assert info is reg.SAMPLERS[name] and info.name == name
        assert f"{info.fn.__module__}.{info.fn.__name__}" == "diffax.samplers." + fn, name
        assert info.options == options, name
        assert (info.order, info.stochastic, info.adaptive) == (order, stochastic, adaptive)
        assert info.nfe(3) == nfe3 and info.family == family, name
        assert reg.SAMPLERS.family(name) == family
        # the budget rule: the largest N with nfe(N) <= budget (1 when none); adaptive: 1
        for budget in (1, 7, 12):
            n = info.steps_for_nfe(budget)
            assert n == (1 if adaptive else max([k for k in range(1, 13)
                                                 if info.nfe(k) <= budget], default=1))
    assert reg.SAMPLERS.names("pfgmpp") == ["pfgmpp_heun"]


def test_unknown_name_lists_the_valid_choices():
    choices = sorted(TABLE)
    assert refusal(reg.sampler_info, "ddimm") == (
        f"unknown sampler 'ddimm' (did you mean 'ddim'?); valid choices: {choices}.")
    assert refusal(reg.get_sampler, "zzz", eta=1.0) == (
        f"unknown sampler 'zzz'; valid choices: {choices}.")


def test_library_names_to_use_instead():
    assert refusal(reg.get_sampler, "ddim", eta=1.0) == (
        "sampler 'ddim' fixes eta=0.0 (its order and NFE accounting depend on it) and cannot "
        "take eta=1.0: use 'ddim_eta1'.")
    assert refusal(reg.get_sampler, "dpm_solver_2s_fixed", order=3) == (
        "sampler 'dpm_solver_2s_fixed' fixes order=2 (its order and NFE accounting depend on "
        "it) and cannot take order=3: use 'dpm_solver_3s_fixed' (or ['dpm_solver_3m', "
        "'dpm_solver_3s']).")
    assert refusal(reg.get_sampler, "unipc_bh2_2", corrector=False) == (
        "sampler 'unipc_bh2_2' fixes corrector=True (its order and NFE accounting depend on "
        "it) and cannot take corrector=False: use 'unip_bh2_2' (or ['unip_bh2_3', "
        "'unip_bh2_1']).")  # then in registration order (unipc.py stacks 3, 2, 1)
    assert refusal(reg.get_sampler, "ddim", eta=0.5) == (
        "sampler 'ddim' fixes eta=0.0 (its order and NFE accounting depend on it) and cannot "
        "take eta=0.5: no registered name has eta=0.5; call diffax.samplers.ddim.ddim "
        "directly.")
    p = PFGMPP(D=128, data_dim=2)
    assert refusal(reg.get_sampler("edm_heun"), None, p, jnp.zeros((2, 2)),
                   jnp.asarray([1.0, 0.5])) == (
        "sampler 'edm_heun' works on 'gaussian' processes, got PFGMPP of family 'pfgmpp'; "
        "samplers for it: ['pfgmpp_heun'].")


# ---- the mechanics, on a fresh table ---------------------------------------------------

def toy(model_fn, process, x_init, timesteps, *, order=1, method="a", scale=1.0, key=None):
    return dict(model_fn=model_fn, process=process, x_init=x_init, timesteps=timesteps,
                order=order, method=method, scale=scale, key=key)


def other(model_fn, process, x_init, timesteps, *, order=1):
    return order


class Family:
    """A process of a family of its own."""

    family = "toy_family"


TOY = {"toy_2a": dict(order=2, method="a"), "toy_2b": dict(order=2, method="b"),
       "toy_3": dict(order=3), "toy_3a": dict(order=3, method="a"),
       "toy_3b": dict(order=3, method="b"), "toy_1c": dict(order=1, method="c")}
TOY_OPTIONS = "['key', 'method', 'order', 'scale']"


@pytest.fixture
def table(monkeypatch):
    fresh = Registry("sampler")
    monkeypatch.setattr(reg, "SAMPLERS", fresh)
    for name, options in TOY.items():
        assert reg.register(name, order=options["order"], options=options)(toy) is toy
    reg.register("other_3", order=3, options=dict(order=3))(other)
    reg.register("toy_fam", order=None, family="toy_family")(toy)
    reg.register("toy_fam2", order=None, family="toy_family")(other)
    return fresh


def test_register_defaults(table):
    opts = dict(order=2, method="a")
    assert reg.register("plain", order=4)(toy) is toy
    info = table["plain"]
    assert isinstance(info, reg.SamplerInfo) and info.name == "plain" and info.fn is toy
    assert info.options == {} and isinstance(info.options, dict)
    assert (info.order, info.stochastic, info.adaptive) == (4, False, False)
    assert info.family == "gaussian" and table.family("plain") == "gaussian"
    assert [info.nfe(n) for n in (1, 2, 7)] == [1, 2, 7]  # one evaluation per step
    assert [info.steps_for_nfe(b) for b in (0, 1, 2, 7)] == [1, 1, 2, 7]
    reg.register("copy", order=2, options=opts)(toy)
    opts["method"] = "b"  # the table keeps its own copy
    assert table["copy"].options == dict(order=2, method="a")
    assert table.family("toy_fam") == "toy_family" and table["toy_fam"].family == "toy_family"


def test_register_explicit_metadata(table):
    nfe = lambda n: 2 * n + 1  # noqa: E731
    reg.register("s", order=None, stochastic=True, nfe=nfe)(toy)
    info = table["s"]
    assert info.stochastic and info.order is None and info.nfe is nfe and not info.adaptive
    assert [info.steps_for_nfe(b) for b in (0, 3, 4, 5, 6, 7, 8)] == [1, 1, 1, 2, 2, 3, 3]
    reg.register("a", order=None, adaptive=True, nfe=lambda n: 10 * n)(toy)
    info = table["a"]  # one interval whatever the budget (the rule would give 9, 100)
    assert info.adaptive and [info.steps_for_nfe(b) for b in (1, 99, 1000)] == [1, 1, 1]
    half = lambda b: b // 2  # noqa: E731
    reg.register("e", order=1, steps_for_nfe=half)(toy)
    reg.register("ea", order=1, steps_for_nfe=half, adaptive=True)(toy)
    assert table["e"].steps_for_nfe is half and table["ea"].steps_for_nfe is half
    assert refusal(reg.register("bad", order=1, options=dict(ordr=2)), toy) == (
        "register('bad'): unknown option(s) ['ordr'] (did you mean 'order'?); valid options: "
        f"{TOY_OPTIONS}.")
    assert "bad" not in table
    assert refusal(reg.register("toy_3", order=1), other) == (
        "sampler 'toy_3' is registered twice.")


@pytest.mark.parametrize("nfe", [lambda n: n, lambda n: 2 * n, lambda n: 2 * n + 1,
                                 lambda n: n + 1, lambda n: 4 * n, lambda n: 100 * n])
def test_largest_steps_within_budget(nfe):
    steps = reg._largest_steps_within(nfe)
    for budget in range(0, 30):
        want = max([n for n in range(1, 40) if nfe(n) <= budget], default=1)
        assert steps(budget) == want, budget
    assert [reg._one_interval(b) for b in (0, 1, 5, 10 ** 6)] == [1, 1, 1, 1]


def test_bound_options_and_the_names_to_use(table):
    def fixes(name, key, value, bound):
        return (f"sampler {name!r} fixes {key}={bound!r} (its order and NFE accounting "
                f"depend on it) and cannot take {key}={value!r}: ")

    # those agreeing on the other bound options first (an entry without them agrees), each
    # group in registration order (the fixture's: toy_2a, toy_2b, toy_3, toy_3a, ...)
    assert refusal(reg.get_sampler, "toy_2b", order=3) == fixes("toy_2b", "order", 3, 2) + (
        "use 'toy_3' (or ['toy_3b', 'toy_3a']).")
    assert refusal(reg.get_sampler, "toy_2a", method="b") == (
        fixes("toy_2a", "method", "b", "a") + "use 'toy_2b' (or ['toy_3b']).")
    assert refusal(reg.get_sampler, "toy_3a", method="b") == (
        fixes("toy_3a", "method", "b", "a") + "use 'toy_3b' (or ['toy_2b']).")
    assert refusal(reg.get_sampler, "toy_2a", method="c") == (
        fixes("toy_2a", "method", "c", "a") + "use 'toy_1c'.")
    # other functions' entries (other_3) are never proposed
    assert refusal(reg.get_sampler, "other_3", order=2) == fixes("other_3", "order", 2, 3) + (
        f"no registered name has order=2; call {other.__module__}.other directly.")
    assert refusal(reg.get_sampler, "toy_2a", order=5) == fixes("toy_2a", "order", 5, 2) + (
        f"no registered name has order=5; call {toy.__module__}.toy directly.")
    # an array cannot be compared to a bound value: refused
    assert refusal(reg.get_sampler, "toy_2a", order=jnp.asarray([2, 2])).startswith(
        fixes("toy_2a", "order", jnp.asarray([2, 2]), 2) + "no registered name")
    # the bound value itself (also as a 0-d array) and unbound options are accepted
    x, ts = jnp.ones((2, 2)), jnp.asarray([0.9, 0.5])
    for opts in (dict(order=2), dict(order=jnp.asarray(2)), dict(method="a"), dict(scale=3.0),
                 {}):
        assert reg.get_sampler("toy_2a", **opts)(None, None, x, ts)["order"] is not None
    assert refusal(reg.get_sampler, "toy_2a", scal=2.0) == (
        "sampler 'toy_2a': unknown option(s) ['scal'] (did you mean 'scale'?); valid "
        f"options: {TOY_OPTIONS}.")
    assert refusal(reg.get_sampler("toy_2a"), None, None, x, ts, scal=2.0) == (
        "sampler 'toy_2a': unknown option(s) ['scal'] (did you mean 'scale'?); valid "
        f"options: {TOY_OPTIONS}.")
    assert refusal(reg.get_sampler("toy_2a"), None, None, x, ts, order=3) == (
        fixes("toy_2a", "order", 3, 2) + "use 'toy_3' (or ['toy_3a', 'toy_3b']).")
    assert refusal(table["toy_3b"], None, None, x, ts, method="c") == (
        fixes("toy_3b", "method", "c", "b") + "use 'toy_1c'.")


def test_calls_bind_the_options_and_check_the_family(table):
    x, ts, p, m = jnp.ones((2, 2)), jnp.asarray([0.9, 0.5]), VPLinear(), object()
    out = reg.get_sampler("toy_3b", scale=2.0)(m, p, x, ts, key=7)
    assert out == dict(model_fn=m, process=p, x_init=x, timesteps=ts, order=3, method="b",
                       scale=2.0, key=7)
    out = table["toy_2a"](m, p, x, ts, scale=4.0)
    assert (out["order"], out["method"], out["scale"], out["key"]) == (2, "a", 4.0, None)
    assert reg.get_sampler("other_3")(m, p, x, ts) == 3
    assert reg.sampler_info("toy_3") is table["toy_3"]
    # a process of another family: the names for it; one without a family: no check
    assert refusal(reg.get_sampler("toy_2a"), m, Family(), x, ts) == (
        "sampler 'toy_2a' works on 'gaussian' processes, got Family of family 'toy_family'; "
        "samplers for it: ['toy_fam', 'toy_fam2'].")
    assert refusal(table["toy_fam"], m, p, x, ts) == (
        "sampler 'toy_fam' works on 'toy_family' processes, got VPLinear of family "
        "'gaussian'; samplers for it: ['other_3', 'toy_1c', 'toy_2a', 'toy_2b', 'toy_3', "
        "'toy_3a', 'toy_3b'].")
    assert table["toy_fam2"](m, Family(), x, ts, order=5) == 5
    assert table["toy_2a"](m, None, x, ts)["process"] is None
    assert table["toy_2a"](m, m, x, ts)["process"] is m
    np.testing.assert_array_equal(table["toy_fam"](m, Family(), x, ts)["x_init"], x)
