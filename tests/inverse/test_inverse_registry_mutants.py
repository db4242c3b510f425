"""The inverse-solver table's metadata (diffax/inverse/registry.py): what ``register``
records by default, ``initial_state`` and ``solver_options`` on a probe solver registered
in a private table (the real table stays as it is)."""

import jax.numpy as jnp
import pytest

from diffax.inverse import registry
from diffax.registry import Registry


@pytest.fixture
def table(monkeypatch):
    t = Registry("inverse solver")
    monkeypatch.setattr(registry, "SOLVERS", t)
    return t


def probe(model_fn, process, x_init, timesteps, *, operator, y, key, noise_std=None, zeta=1.0):
    return x_init


def test_register_defaults_and_metadata(table):
    assert registry.register("probe")(probe) is probe
    e = table.entry("probe")
    assert e.family == "gaussian" and e.metadata == {"start_scale": 1.0, "noise_floor": None}
    registry.register("scaled", start_scale=2.0, noise_floor=0.01)(probe)
    assert table.entry("scaled").metadata == {"start_scale": 2.0, "noise_floor": 0.01}
    assert registry.get_solver("scaled") is probe


def test_initial_state(table):
    x = jnp.asarray([1.0, -2.0])
    registry.register("one")(probe)
    registry.register("two", start_scale=2.0)(probe)
    registry.register("tenth", start_scale=0.1)(probe)
    assert registry.initial_state("one", x) is x
    assert jnp.array_equal(registry.initial_state("two", x), 2.0 * x)
    assert jnp.array_equal(registry.initial_state("tenth", x), 0.1 * x)


def test_solver_options(table):
    registry.register("plain")(probe)
    registry.register("floored", noise_floor=0.01)(probe)
    assert registry.solver_options("plain", 0.05, {"zeta": 2.0}) == {"zeta": 2.0}
    assert registry.solver_options("floored", 0.05, {}) == {"noise_std": 0.05}
    assert registry.solver_options("floored", 0.001, {}) == {"noise_std": 0.01}
    assert registry.solver_options("floored", 0.001, {"noise_std": 0.5}) == {"noise_std": 0.5}
    opts = {"zeta": 1.0}
    registry.solver_options("floored", 0.05, opts)
    assert opts == {"zeta": 1.0}  # the caller's mapping is not changed
    with pytest.raises(ValueError) as e:
        registry.solver_options("plain", 0.05, {"operator": 1, "zetta": 2})
    assert str(e.value) == ("inverse solver 'plain': unknown option(s) ['zetta'] (did you mean "
                            "'zeta'?); valid options: ['key', 'noise_std', 'operator', 'y', "
                            "'zeta'].")
    with pytest.raises(ValueError) as e:  # the positional arguments are not options
        registry.solver_options("plain", 0.05, {"timesteps": 1})
    assert "unknown option(s) ['timesteps']" in str(e.value)
