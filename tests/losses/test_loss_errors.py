"""Bad arguments raise ValueError naming the bad value and the valid choices."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

from diffax import losses
from diffax.processes import PFGMPP, DiscreteDDPM, RectifiedFlow, VPLinear

VP = VPLinear()


@pytest.mark.parametrize("kwargs, fragments", [
    (dict(kind="noise"), ["'noise'", "'eps'", "'velocity'"]),
    (dict(weighting="p2"), ["'p2'", "'min_snr'", "'likelihood'", "'uniform'"]),
    (dict(time_sampling="cosine"), ["'cosine'", "'antithetic'", "'lognormal'"]),
    (dict(gamma=5.0), ["'gamma'", "t_min", "t_max"]),  # gamma belongs to min_snr only
    (dict(weighting="min_snr", gamma=0.0), ["gamma", "> 0"]),
    (dict(weighting="min_snr", gamma="five"), ["gamma", "'five'"]),
    (dict(weighting="edm", sigma_data=-1.0), ["sigma_data", "-1.0"]),
    (dict(weighting="edm", sigma_data=0.5, gama=1.0), ["'gama'", "sigma_data"]),
    (dict(time_sampling="lognormal", p_std=0.0), ["p_std", "> 0"]),
    (dict(time_sampling="lognormal", p_mean=float("nan")), ["p_mean", "finite"]),
    (dict(time_sampling="logit_normal", logit_std=-2.0), ["logit_std"]),
    (dict(t_min=0.5, t_max=0.2), ["t_min=0.5", "t_max=0.2"]),
    (dict(t_min=0.0), ["t_min=0.0", "[0.001, 1.0]"]),
    (dict(t_max=2.0), ["t_max=2.0", "[0.001, 1.0]"]),
])
def test_denoising_loss_rejects_bad_arguments(kwargs, fragments):
    with pytest.raises(ValueError) as info:
        losses.denoising_loss(VP, **kwargs)
    for fragment in fragments:
        assert fragment in str(info.value), (fragment, str(info.value))


def test_process_must_be_gaussian():
    for factory in (losses.denoising_loss, losses.edm_loss, losses.flow_matching_loss):
        with pytest.raises(ValueError, match="GaussianProcess.*PFGMPP"):
            factory(PFGMPP(D=128.0, data_dim=2))
    with pytest.raises(ValueError, match="DiscreteDDPM.*VPLinear"):
        losses.ddpm_simple_loss(VP)


def test_edm_and_flow_matching_validate_their_options():
    with pytest.raises(ValueError, match="sigma_data"):
        losses.edm_loss(VP, sigma_data=0.0)
    with pytest.raises(ValueError, match="p_std"):
        losses.edm_loss(VP, p_std=-1.0)
    with pytest.raises(ValueError, match="'beta'.*logit_mean"):
        losses.flow_matching_loss(RectifiedFlow(), time_sampling="logit_normal", beta=1.0)


def test_get_loss_rejects_unknown_names_and_options():
    with pytest.raises(ValueError) as info:
        losses.get_loss("score_matching", VP)
    for name in ("'dsm'", "'edm'", "'ddpm_simple'", "'flow_matching'", "'score_matching'"):
        assert name in str(info.value)
    assert "did you mean 'edm'" in str(losses_error(lambda: losses.get_loss("emd", VP)))
    with pytest.raises(ValueError, match=r"get_loss: loss 'edm': unknown option\(s\) \['kind'\]; "
                                         r"valid options: \['p_mean', 'p_std', 'sigma_data'\]"):
        losses.get_loss("edm", VP, kind="x0")
    with pytest.raises(ValueError, match=r"loss 'ddpm_simple': unknown option\(s\) "
                                         r"\['weighting'\]; valid options: \[\]"):
        losses.get_loss("ddpm_simple", DiscreteDDPM.linear(50), weighting="snr")
    with pytest.raises(ValueError, match="'min_snr'"):
        losses.get_loss("dsm", VP, weighting="minsnr")


def losses_error(build) -> ValueError:
    with pytest.raises(ValueError) as info:
        build()
    return info.value


def test_registries_record_families_and_refuse_mismatches():
    assert losses.LOSSES.names("pfgmpp") == ["pfgmpp"]
    assert all(losses.LOSSES.family(n) == "gaussian" for n in losses.LOSSES if n != "pfgmpp")
    assert all(losses.WEIGHTINGS.family(n) == "gaussian" for n in losses.WEIGHTINGS)
    # Time samplers that only use [t_min, t_max] fit any family; log-SNR ones need Gaussian.
    assert losses.TIME_SAMPLERS.names("gaussian") == ["lognormal", "uniform_log_snr"]
    pfgm = PFGMPP(D=128.0, data_dim=2)
    with pytest.raises(ValueError, match=r"get_loss: loss 'dsm' is for gaussian processes, "
                                         r"but PFGMPP is a pfgmpp process; losses for pfgmpp "
                                         r"processes: \['pfgmpp'\]"):
        losses.get_loss("dsm", pfgm)
    with pytest.raises(ValueError, match=r"time sampler 'lognormal' is for gaussian processes, "
                                         r"but PFGMPP is pfgmpp"):
        losses.make_time_sampler("lognormal", pfgm)
    t = losses.make_time_sampler("uniform", pfgm)(jax.random.key(0), 4)
    assert t.shape == (4,) and bool(jnp.all((t >= pfgm.t_min) & (t <= pfgm.t_max)))
    with pytest.raises(ValueError, match=r"weighting 'snr' is for gaussian processes"):
        losses.make_weighting("snr", pfgm, "x0")


def test_bad_batches_and_model_outputs():
    loss_fn = losses.denoising_loss(VP)
    model = lambda x, t, **c: x
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="no 'x' entry.*'image'"):
        loss_fn(model, {"image": jnp.zeros((4, 2))}, key)
    with pytest.raises(ValueError, match="dict"):
        loss_fn(model, jnp.zeros((4, 2)), key)
    with pytest.raises(ValueError, match="floating.*int32"):
        loss_fn(model, {"x": jnp.zeros((4, 2), jnp.int32)}, key)
    with pytest.raises(ValueError, match=r"returned shape \(4, 3\).*\(4, 2\)"):
        loss_fn(lambda x, t: jnp.zeros((4, 3)), {"x": jnp.zeros((4, 2))}, key)
    # Static checks also fire under jit.
    with pytest.raises(ValueError, match="returned shape"):
        jax.jit(lambda b, k: loss_fn(lambda x, t: x[:, :1], b, k))({"x": jnp.zeros((4, 2))}, key)
