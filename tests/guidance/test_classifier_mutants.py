"""Classifier guidance: the behaviours that mutation testing of diffax/guidance/classifier.py
found unpinned (docs/testing.md, "Mutation testing"), each against a hand computation.

* noise-aware guidance (Dhariwal & Nichol 2021): score + scale grad_x log softmax(f(x, t))_y;
  for a linear classifier f(x, t) = c(t) W x the gradient is c(t) (W_y - softmax(f)^T W);
* which conditioning keys reach the model (``pass_label_to_model``, ``label_key``);
* off-the-shelf guidance through the denoiser (Ma et al. 2024): for a model predicting
  eps = 0 on VP, x0_hat = x / alpha(t), so the gradient through x0_hat is the x0-gradient
  divided by alpha(t);
* temperature scaling (Guo et al. 2017): the defaults (200 Adam steps at rate 0.05) and
  the shape checks, one condition at a time.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.guidance import classifier_guidance, denoised_classifier_guidance, fit_temperature
from diffax.processes import VPLinear

PROCESS = VPLinear()
# NumPy float64 constants: jnp.asarray gives float64 under the x64 fixture
W = np.asarray([[1.0, -0.5], [-0.3, 0.8], [0.2, 0.2]])  # 3 classes, 2-D data
X = np.asarray([[0.4, -0.2], [-0.7, 0.9], [1.2, 0.3]])
T = np.asarray([0.2, 0.5, 0.8])


def _linear_grad(z, y, c=1.0):
    """grad_z log softmax(c W z)_y = c (W_y - softmax(c W z)^T W), per row (c: scalar or
    (B, 1))."""
    w = jnp.asarray(W)
    probs = jax.nn.softmax(c * (z @ w.T), axis=-1)
    return c * (w[y] - probs @ w)


def _recording_model(seen):
    """An eps model x * t that records the conditioning keys it is given."""
    def model(x, t, **cond):
        seen.append(sorted(cond))
        return 0.3 * x * t[:, None]
    return model


@pytest.mark.parametrize("pass_label", [False, True])
def test_noise_aware_guidance_by_hand_and_the_keys_the_model_sees(x64, pass_label):
    """eps_guided = eps - sigma(t) scale grad (score = -eps / sigma), with a time-dependent
    linear classifier; the model sees the label only when ``pass_label_to_model`` (default
    False); labels given as floats are used as class indices."""
    seen = []
    x, t, w = jnp.asarray(X), jnp.asarray(T), jnp.asarray(W)
    scale, y = 1.7, jnp.asarray([0, 2, 1])

    def logits_fn(z, s):
        return (1.0 + s[:, None]) * (z @ w.T)

    opts = {"pass_label_to_model": True} if pass_label else {}  # the default is False
    guided = classifier_guidance(_recording_model(seen), logits_fn, PROCESS, scale=scale,
                                 label_key="y", **opts)
    out = guided(x, t, y=y.astype(jnp.float32), other=jnp.ones(3))
    assert seen == [["other", "y"] if pass_label else ["other"]]
    grad = _linear_grad(x, y, (1.0 + t)[:, None])
    sigma = PROCESS.sigma(t)[:, None]
    want = 0.3 * x * t[:, None] - sigma * scale * grad
    np.testing.assert_allclose(out, want, rtol=1e-12)


def test_noise_aware_guidance_names_the_missing_label():
    guided = classifier_guidance(_recording_model([]), lambda x, t: x @ W.T, PROCESS, scale=1.0)
    msg = ("classifier_guidance: pass the target class as cond={'label': labels}; "
           "got cond keys ['other'].")
    with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
        guided(X, T, other=1)


@pytest.mark.parametrize("through", [False, True])
def test_denoised_guidance_through_the_denoiser_by_hand(x64, through):
    """A model predicting eps = 0 has x0_hat = x / alpha(t) and score 0, so the guided eps is
    -sigma scale g, with g the x0-gradient at x / alpha, divided by alpha when the gradient
    goes through the denoiser (``through_denoiser``, default False). The model never sees
    the label; other keys reach it."""
    seen = []

    def zero_eps(x, t, **cond):
        seen.append(sorted(cond))
        return jnp.zeros_like(x)

    x, t, w = jnp.asarray(X), jnp.asarray(T), jnp.asarray(W)
    y, scale = jnp.asarray([1, 0, 2]), 0.8
    guided = denoised_classifier_guidance(zero_eps, lambda x0: x0 @ w.T, PROCESS, scale=scale,
                                          **({"through_denoiser": True} if through else {}))
    out = guided(x, t, label=y, other=jnp.ones(3))
    assert seen == [["other"]]
    alpha, sigma = PROCESS.alpha(t)[:, None], PROCESS.sigma(t)[:, None]
    g = _linear_grad(x / alpha, y)
    if through:
        g = g / alpha
    np.testing.assert_allclose(out, -sigma * scale * g, rtol=1e-12)


def test_denoised_guidance_names_the_missing_label():
    guided = denoised_classifier_guidance(_recording_model([]), lambda x0: x0 @ W.T, PROCESS,
                                          scale=1.0, label_key="y")
    msg = ("denoised_classifier_guidance: pass the target class as cond={'y': labels}; "
           "got cond keys ['label'].")
    with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
        guided(X, T, label=1)


def _calibration_set():
    key_z, key_y = jax.random.split(jax.random.PRNGKey(0))
    z = 2.0 * jax.random.normal(key_z, (2000, 4))
    return z / 0.5, jax.random.categorical(key_y, z)


def test_fit_temperature_defaults_and_float_labels():
    """The defaults are 200 Adam steps at learning rate 0.05 (same program, so equal
    bitwise); float labels are class indices like the integer ones."""
    logits, labels = _calibration_set()
    tau = fit_temperature(logits, labels)
    assert float(tau) == float(fit_temperature(logits, labels, steps=200, learning_rate=0.05))
    assert float(tau) == float(fit_temperature(logits, labels.astype(jnp.float32)))
    assert abs(float(tau) - 0.5) < 0.03, float(tau)  # measured 0.491 (2000 labels)


def test_fit_temperature_checks_each_shape():
    logits, labels = _calibration_set()
    for bad_logits, bad_labels, shapes in [(logits[0], labels, "(4,) and (2000,)"),
                                           (logits, labels[:5], "(2000, 4) and (5,)"),
                                           (logits[None], labels, "(1, 2000, 4) and (2000,)")]:
        msg = ("fit_temperature: need logits (N, K) and labels (N,), got shapes "
               f"{shapes}.")
        with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
            fit_temperature(bad_logits, bad_labels)
