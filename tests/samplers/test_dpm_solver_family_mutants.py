"""What DPM-Solver and DPM-Solver++ share (``diffax/samplers/dpm_solver_family.py``), written
for its mutation run (docs/testing.md): the seven registered variants of a prefix, checked
through a recording stand-in for ``register`` (the earlier registry tests see only the
import-time registration); ``checked_solve`` handing every option to the engine, through a
recording stand-in for ``engine.solve`` (the earlier tests see only sampled values, where a
dropped option can coincide with its default); every refusal with its whole message and
the entry point's name (the earlier tests matched fragments)."""

import jax.numpy as jnp
import pytest

from linear_step_problem import not_decreasing_message
from diffax.processes import VPLinear
from diffax.samplers import dpm_solver_engine as engine
from diffax.samplers import dpm_solver_family as family
from diffax.samplers.dpm_solver import dpm_solver
from diffax.samplers.dpm_solver_pp import dpm_solver_pp

P = VPLinear()
TS = jnp.array([0.9, 0.5, 0.2])


def test_register_variants_registers_the_seven_names(monkeypatch):
    calls = []

    def register(name, **kw):
        def deco(fn):
            calls.append((name, kw, fn))
            return fn
        return deco

    monkeypatch.setattr(family, "register", register)

    def fn():
        pass

    assert family.register_variants("pre")(fn) is fn
    got = {name: kw for name, kw, f in calls if f is fn}
    assert len(calls) == len(got) == 7
    assert [c[0] for c in calls] == ["pre_3m", "pre_2m", "pre_3s_fixed", "pre_2s_fixed",
                                     "pre_3s", "pre_2s", "pre_1"]  # bottom-up, as a stack
    for name, order, method in [("1", 1, "singlestep"), ("2s", 2, "singlestep"),
                                ("3s", 3, "singlestep"), ("2m", 2, "multistep"),
                                ("3m", 3, "multistep")]:
        assert got[f"pre_{name}"] == dict(order=order,
                                          options=dict(order=order, method=method))
    for name, order in [("2s_fixed", 2), ("3s_fixed", 3)]:
        kw = dict(got[f"pre_{name}"])
        nfe = kw.pop("nfe")
        assert kw == dict(order=order, options=dict(order=order, method="singlestep_fixed"))
        assert [nfe(n) for n in (1, 7)] == [order, 7 * order]


def test_fixed_nfe_is_order_times_steps():
    assert [family._fixed_nfe(3)(n) for n in (1, 2, 7)] == [3, 6, 21]
    assert family._fixed_nfe(2)(5) == 10


@pytest.mark.parametrize("options,fractions", [
    (dict(order=3, method="multistep", lower_order_final=False, r1=None, r2=None,
          return_trajectory=True, second_difference="reference"), (1 / 3, 2 / 3)),
    (dict(order=2, method="singlestep_fixed", lower_order_final=True, r1=0.3, r2=None,
          return_trajectory=False, second_difference="taylor"), (0.3,)),
    (dict(order=3, method="singlestep_fixed", lower_order_final=True, r1=0.2, r2=0.7,
          return_trajectory=False, second_difference="taylor"), (0.2, 0.7)),
    (dict(order=1, method="singlestep", lower_order_final=True, r1=None, r2=None,
          return_trajectory=True, second_difference="taylor"), ()),
])
def test_checked_solve_hands_every_option_to_the_engine(monkeypatch, options, fractions):
    seen = []
    monkeypatch.setattr(engine, "solve", lambda *a, **kw: seen.append((a, kw)) or "out")
    model = object()
    x = jnp.ones((2, 3))
    out = family.checked_solve("nm", lambda: model, P, "x0", x, [0.9, 0.5, 0.2], **options)
    assert out == "out" and len(seen) == 1
    (f, process, param, x_init, ts), kw = seen[0]
    assert f is model and process is P and param == "x0" and x_init is x
    assert ts.tolist() == pytest.approx([0.9, 0.5, 0.2], rel=1e-7) and ts.ndim == 1
    want = {k: v for k, v in options.items() if k not in ("r1", "r2")}
    assert {k: v for k, v in kw.items() if k != "fractions"} == want
    assert kw["fractions"] == pytest.approx(fractions, rel=1e-15)


def test_second_difference_reference_is_accepted_for_3m_only():
    x = jnp.ones((2, 2))
    for fn in (dpm_solver, dpm_solver_pp):
        ref = fn(lambda x, t: 0.1 * x, P, x, TS, order=3, method="multistep",
                 second_difference="reference", lower_order_final=False)
        assert ref.x.shape == x.shape and int(ref.nfe) == 2


@pytest.mark.parametrize("fn,name", [(dpm_solver, "dpm_solver"),
                                     (dpm_solver_pp, "dpm_solver_pp")])
def test_every_refusal_with_its_message(fn, name):
    x = jnp.ones((2, 2))

    def model_fn(x, t):
        return x

    def message(ts=TS, **kw):
        with pytest.raises(ValueError) as e:
            fn(model_fn, P, x, ts, **kw)
        return str(e.value)

    assert message(order=4) == f"{name}: unknown order 4; valid choices: [1, 2, 3]."
    assert message(method="m") == (f"{name}: unknown method 'm'; valid choices: "
                                   "['singlestep', 'singlestep_fixed', 'multistep'].")
    assert message(order=2, method="multistep", r1=0.5) == (
        f"{name}: r1/r2 only apply to method='singlestep_fixed' with order 2 or 3 "
        "(method='singlestep' places the stages at the grid times), got r1=0.5, r2=None "
        "with method='multistep', order=2.")
    assert message(order=2, method="singlestep_fixed", r2=0.5) == (
        f"{name}: r2 only applies to order 3, got r2=0.5 with order=2.")
    assert message(order=3, method="singlestep_fixed", r1=0.7, r2=0.6) == (
        f"{name}: need 0 < r1 < 1 (and r1 < r2 < 1 for order 3), got "
        "{'r1': 0.7, 'r2': 0.6}.")
    assert message(second_difference="half") == (
        f"{name}: unknown second_difference 'half'; valid choices: ['taylor', 'reference'].")
    for order, method in [(2, "multistep"), (3, "singlestep"), (3, "singlestep_fixed")]:
        assert message(order=order, method=method, second_difference="reference") == (
            f"{name}: second_difference only applies to the third-order multistep method "
            f"(the *_3m samplers), got order={order}, method={method!r}.")
    assert message(ts=jnp.array([0.5, 0.9])) == not_decreasing_message(name, "[0.5 0.9]")
    assert message(ts=jnp.array([1.5, 0.5])).startswith(f"{name}: timesteps span [0.5, 1.5]")


def test_checked_solve_default_second_difference_is_taylor(monkeypatch):
    seen = []
    monkeypatch.setattr(engine, "solve", lambda *a, **kw: seen.append(kw))
    family.checked_solve("nm", lambda: None, P, "eps", jnp.ones((2, 3)), TS, order=3,
                         method="multistep", lower_order_final=True, r1=None, r2=None,
                         return_trajectory=False)
    assert seen[0]["second_difference"] == "taylor"
