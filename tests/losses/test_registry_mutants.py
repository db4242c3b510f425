"""Value tests that pin diffax/losses/registry.py (written from its mutation run,
docs/testing.md "Measured (2026-12): diffax/losses"): ``get_loss`` hands the process and
every option to the named factory (same value as the factory called directly, at
non-default options), and its refusals, in full."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax import losses
from diffax.processes import EDM, PFGMPP, DiscreteDDPM, RectifiedFlow, VPLinear


def model(x, t, **cond):
    return jnp.tanh(x) * (1.0 + t[:, None])


def test_get_loss_hands_on_process_and_options(x64):
    x = jax.random.normal(jax.random.key(0), (8, 2), jnp.float64)
    key = jax.random.key(1)
    pf = PFGMPP(D=8.0, data_dim=2)
    cases = [("dsm", VPLinear(), losses.denoising_loss,
              {"kind": "v", "weighting": "min_snr", "gamma": 2.0, "t_min": 0.2}),
             ("edm", EDM(), losses.edm_loss, {"sigma_data": 0.7, "p_mean": 0.1, "p_std": 0.5}),
             ("ddpm_simple", DiscreteDDPM.linear(20, t_min=0.5), losses.ddpm_simple_loss, {}),
             ("flow_matching", RectifiedFlow(), losses.flow_matching_loss,
              {"time_sampling": "logit_normal", "logit_mean": 0.3}),
             ("pfgmpp", pf, losses.pfgmpp_loss, {"sigma_data": 0.7, "p_std": 0.5})]
    for name, process, factory, options in cases:
        got, aux = losses.get_loss(name, process, **options)(model, {"x": x}, key)
        want, ref = factory(process, **options)(model, {"x": x}, key)
        assert float(got) == float(want), name
        np.testing.assert_array_equal(aux["t"], ref["t"])
        # and the options matter: the defaults give another value
        if options:
            default = factory(process)(model, {"x": x}, key)[0]
            assert float(default) != float(got), name


@pytest.mark.parametrize("build, message", [
    (lambda: losses.get_loss("xx", VPLinear()),
     "get_loss: unknown loss 'xx'; valid choices: ['ddpm_simple', 'dsm', 'edm', "
     "'flow_matching', 'pfgmpp']."),
    (lambda: losses.get_loss("dsm", PFGMPP(D=8.0, data_dim=2)),
     "get_loss: loss 'dsm' is for gaussian processes, but PFGMPP is a pfgmpp process; "
     "losses for pfgmpp processes: ['pfgmpp']."),
    (lambda: losses.get_loss("pfgmpp", VPLinear()),
     "get_loss: loss 'pfgmpp' is for pfgmpp processes, but VPLinear is a gaussian process; "
     "losses for gaussian processes: ['ddpm_simple', 'dsm', 'edm', 'flow_matching']."),
    (lambda: losses.get_loss("edm", VPLinear(), kind="x0"),
     "get_loss: loss 'edm': unknown option(s) ['kind']; valid options: ['p_mean', 'p_std', "
     "'sigma_data']."),
])
def test_get_loss_messages_in_full(build, message):
    with pytest.raises(ValueError) as info:
        build()
    assert str(info.value) == message


def test_a_process_without_family_reaches_the_factory():
    """No family to compare: the factory's own check answers."""
    with pytest.raises(ValueError) as info:
        losses.get_loss("dsm", object())
    assert str(info.value).startswith("denoising_loss: process must be a diffax "
                                      "GaussianProcess")
