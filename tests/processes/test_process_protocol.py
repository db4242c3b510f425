"""The Process protocol, process families and the PROCESSES registry."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.processes import (DISCRETE, FAMILIES, GAUSSIAN, PFGMPP, PROCESSES, EDM,
                              GaussianProcess, Process, VPLinear, family_of, get_process)


@pytest.mark.parametrize("name", PROCESSES.names(GAUSSIAN))
def test_every_gaussian_entry_is_a_gaussian_process(name):
    p = get_process(name)
    assert isinstance(p, Process) and isinstance(p, GaussianProcess)
    assert PROCESSES.family(name) == p.family == family_of(p) == GAUSSIAN
    # The family is a class attribute, not a dataclass field (no pytree/jit change).
    assert "family" not in {f.name for f in dataclasses.fields(p)}
    x0 = jnp.ones((3, 2))
    x_t, eps = p.sample_marginal(jax.random.key(0), x0, 0.5 * (p.t_min + p.t_max))
    assert x_t.shape == eps.shape == x0.shape
    z = p.prior_sample(jax.random.key(1), (3, 2))
    assert p.prior_log_prob(z).shape == (3,)


def test_pfgmpp_is_its_own_family_and_registered():
    p = PFGMPP(D=64, data_dim=6)
    assert isinstance(p, Process) and not isinstance(p, GaussianProcess)
    assert p.family == "pfgmpp" and p.family in FAMILIES
    assert PROCESSES.names("pfgmpp") == ["pfgmpp"] and PROCESSES.family("pfgmpp") == p.family
    assert get_process("pfgmpp", D=64, data_dim=6) == p
    key, x0 = jax.random.key(3), jnp.arange(24.0).reshape(4, 6)
    x_t, noise = p.sample_marginal(key, x0, 0.7)
    np.testing.assert_array_equal(x_t, p.sample_kernel(key, x0, 0.7))
    np.testing.assert_allclose(noise, x_t - x0, rtol=0, atol=0)


@dataclasses.dataclass(frozen=True)
class _MaskingToy:
    """A discrete-state process written without inheriting anything: tokens are replaced
    by a mask id with probability t (a sibling family, as issue 20's will be)."""

    vocab: int
    family: str = DISCRETE
    t_min: float = 0.0
    t_max: float = 1.0

    def sample_marginal(self, key, x0, t):
        masked = jax.random.bernoulli(key, t, jnp.shape(x0))
        return jnp.where(masked, self.vocab, x0), masked

    def prior_sample(self, key, shape, dtype=jnp.int32):
        return jnp.full(shape, self.vocab, dtype)

    def prior_log_prob(self, z):
        return jnp.zeros(jnp.shape(z)[:1])


def test_the_protocol_is_structural():
    toy = _MaskingToy(vocab=5)
    assert isinstance(toy, Process) and family_of(toy) == DISCRETE
    x_t, masked = toy.sample_marginal(jax.random.key(0), jnp.zeros((2, 8), jnp.int32), 1.0)
    assert bool(jnp.all(masked)) and bool(jnp.all(x_t == 5))
    assert not isinstance(object(), Process) and family_of(object()) is None


def test_get_process_checks_names_and_options():
    assert get_process("edm", t_max=10.0) == EDM(t_max=10.0)
    with pytest.raises(ValueError, match=r"unknown process 'vp_lin' \(did you mean "
                                         r"'vp_linear'\?\); valid choices: \["):
        get_process("vp_lin")
    with pytest.raises(ValueError, match=r"process 'vp_linear': unknown option\(s\) "
                                         r"\['beta_mx'\] \(did you mean 'beta_max'\?\)"):
        get_process("vp_linear", beta_mx=10.0)
    assert isinstance(get_process("vp_linear", beta_max=10.0), VPLinear)
