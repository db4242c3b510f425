"""Oracle tests of the losses on a 2-D Gaussian mixture (float64).

Every denoising loss is minimised by the exact MMSE predictor, so the expected
derivative of the loss along any perturbation ``model = exact + theta * h`` vanishes at
theta = 0. We estimate d E[loss]/d theta per example (forward mode through the loss),
and require the Monte-Carlo mean to lie within 3.5 standard errors of 0 (fixed keys).
Negative control in every case: at a wrong predictor (the exact predictor of a mixture
with different component widths) the derivative along h = wrong - exact is
2 E[w ||h||^2] / D > 0 and must lie many standard errors away from 0.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax import losses
from diffax.analytic import GaussianMixture
from diffax.predictions import KINDS
from diffax.processes import EDM, VE, DiscreteDDPM, RectifiedFlow, VPLinear

N = 16384
Z_OK = 3.5   # |z| allowed at the exact predictor
Z_BAD = 8.0   # z required at the wrong predictor


def mixtures():
    means = [[-1.5, 0.5], [1.0, -0.5]]
    exact = GaussianMixture.isotropic([0.3, 0.7], means, [0.4, 0.6])
    wrong = GaussianMixture.isotropic([0.3, 0.7], means, [0.7, 1.0])
    return exact, wrong


def smooth_h(x, t):
    """A fixed smooth perturbation direction h(x_t, t)."""
    return (jnp.tanh(x[:, ::-1]) + 0.3 * x) * (1.0 + 0.5 * jnp.sin(3.0 * t))[:, None]


def derivative_z(loss_fn, base_fn, direction, x0, key) -> float:
    """z-score of the Monte-Carlo estimate of d E[loss(base + theta h)]/d theta at 0."""

    def per_example(theta):
        model = lambda x, t, **c: base_fn(x, t) + theta * direction(x, t)
        return loss_fn(model, {"x": x0}, key)[1]["loss_per_example"]

    d = np.asarray(jax.jvp(per_example, (0.0,), (1.0,))[1])
    return float(d.mean() / (d.std(ddof=1) / np.sqrt(d.size)))


def check_stationary(loss_fn, kind, process, seed=0, both_directions=True):
    exact, wrong = mixtures()
    x0 = exact.sample(jax.random.key(100 + seed), N)
    key = jax.random.key(200 + seed)
    f_exact = exact.model_fn(kind, process)
    f_wrong = wrong.model_fn(kind, process)
    h_wrong = lambda x, t: f_wrong(x, t) - f_exact(x, t)
    z_smooth = derivative_z(loss_fn, f_exact, smooth_h, x0, key)
    assert abs(z_smooth) < Z_OK, (kind, z_smooth)
    if both_directions:
        z_toward_wrong = derivative_z(loss_fn, f_exact, h_wrong, x0, key)
        assert abs(z_toward_wrong) < Z_OK, (kind, z_toward_wrong)
    z_at_wrong = derivative_z(loss_fn, f_wrong, h_wrong, x0, key)
    assert z_at_wrong > Z_BAD, (kind, z_at_wrong)


@pytest.mark.parametrize("kind", KINDS)
def test_exact_predictor_is_stationary_every_kind_and_weighting(x64, kind):
    # t_min=0.02: below it the x0-space weight of the score loss, alpha^2 / sigma^4,
    # lets a handful of examples dominate the Monte-Carlo mean (weak negative control).
    process = VPLinear()
    for weighting in losses.WEIGHTINGS:
        loss_fn = losses.denoising_loss(process, kind=kind, weighting=weighting, t_min=0.02)
        check_stationary(loss_fn, kind, process, both_directions=weighting == "uniform")


# (process, kind, weighting, time_sampling). Few process classes: each one costs a
# compile of the mixture oracle. VPCosine and SubVP are covered by the float32 tests.
CASES = [
    (VPLinear(), "v", "likelihood", "antithetic"),
    (VE(), "x0", "edm", "lognormal"),
    (EDM(), "eps", "uniform", "lognormal"),
    (RectifiedFlow(), "velocity", "uniform", "logit_normal"),
    (VPLinear(), "eps", "snr", "uniform_log_snr"),
    (VPLinear(), "x0", "min_snr", "stratified"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0].name}-{c[1]}-{c[2]}-{c[3]}")
def test_exact_predictor_is_stationary_other_processes(x64, case):
    process, kind, weighting, time_sampling = case
    loss_fn = losses.denoising_loss(process, kind=kind, weighting=weighting,
                                    time_sampling=time_sampling)
    check_stationary(loss_fn, kind, process, seed=1)


def test_named_losses_are_stationary_at_exact(x64):
    rf = RectifiedFlow()
    check_stationary(losses.flow_matching_loss(rf), "velocity", rf, seed=2)
    edm = EDM()
    check_stationary(losses.edm_loss(edm), "x0", edm, seed=3)
    ddpm = DiscreteDDPM.linear(50)
    check_stationary(losses.ddpm_simple_loss(ddpm), "eps", ddpm, seed=4)


def test_exact_predictor_of_another_kind_is_not_stationary(x64):
    """Negative control on the kind: feeding the exact eps-predictor to a v-loss (or the
    exact x0-predictor to a flow-matching loss) moves the derivative far from 0."""
    exact, _ = mixtures()
    x0 = exact.sample(jax.random.key(5), N)
    vp = VPLinear()
    z = derivative_z(losses.denoising_loss(vp, kind="v"), exact.model_fn("eps", vp),
                     smooth_h, x0, jax.random.key(6))
    assert abs(z) > Z_BAD, z
    rf = RectifiedFlow()
    z = derivative_z(losses.flow_matching_loss(rf), exact.model_fn("x0", rf), smooth_h, x0,
                     jax.random.key(7))
    assert abs(z) > Z_BAD, z
