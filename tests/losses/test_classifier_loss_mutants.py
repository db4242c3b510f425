"""Value tests that pin diffax/losses/classifier.py (written from its mutation run,
docs/testing.md "Measured (2026-12): diffax/losses").

The noisy-classifier cross-entropy (Dhariwal & Nichol, 2021, Sec. 4) against a by-hand
composition with the same keys: k_t, k_eps = split(key), t ~ p(t) (k_t, in the data's
dtype), x_t = alpha x0 + sigma eps (k_eps), L = mean_b -log softmax(f(x_t, t))_{y_b}
(computed in float32), accuracy = mean_b [argmax f = y_b]; on (B, 4) data with B = 6 and
K = 3 classes (B != K), a linear time-dependent classifier whose accuracy is neither 0,
1/2 nor 1.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax import losses
from diffax.processes import PFGMPP, VPLinear

B, K = 6, 3
W = np.array([[1.0, -0.5, 0.2], [0.3, 0.8, -1.0], [-0.7, 0.1, 0.9], [0.4, -0.2, 0.3]])


def logits_fn(x, t):
    return x @ jnp.asarray(W, x.dtype) + t[:, None] * jnp.asarray([0.5, -0.5, 0.0], x.dtype)


def by_hand(process, x0, y, key, lo, hi, sampler="uniform"):
    k_t, k_eps = jax.random.split(key)
    t = losses.make_time_sampler(sampler, process, t_min=lo, t_max=hi)(k_t, B, x0.dtype)
    tn = np.asarray(t, np.float64)
    eps = np.asarray(jax.random.normal(k_eps, x0.shape, x0.dtype), np.float64)
    a, s = (np.asarray(f(t), np.float64)[:, None] for f in (process.alpha, process.sigma))
    x_t = a * np.asarray(x0, np.float64) + s * eps
    logits = x_t @ W + tn[:, None] * np.array([0.5, -0.5, 0.0])
    logp = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    nll = -logp[np.arange(B), np.asarray(y).astype(int)]
    return tn, np.mean(nll), np.mean(np.argmax(logits, 1) == np.asarray(y))


def test_noisy_classifier_loss_by_hand(x64):
    process = VPLinear()
    x0 = jax.random.normal(jax.random.key(0), (B, 4), jnp.float64)
    y = jnp.asarray([0, 1, 2, 1, 0, 2])
    key = jax.random.key(3)
    # defaults: uniform times on the process's interval, labels under "label"
    loss, aux = losses.noisy_classifier_loss(process)(logits_fn, {"x": x0, "label": y}, key)
    t, nll, acc = by_hand(process, x0, y, key, process.t_min, process.t_max)
    assert aux["t"].dtype == jnp.float64 and loss.dtype == jnp.float32
    np.testing.assert_allclose(aux["t"], t, rtol=1e-14)
    np.testing.assert_allclose(loss, nll, rtol=1e-6)
    assert float(aux["loss"]) == float(loss)
    assert float(aux["accuracy"]) == np.float32(acc) and acc not in (0.0, 0.5, 1.0)
    assert set(aux) == {"loss", "t", "accuracy"}
    # a named sampler with its interval, a custom label key and float class labels
    loss_fn = losses.noisy_classifier_loss(process, time_sampling="antithetic",
                                           label_key="y", t_min=0.1, t_max=0.4)
    loss, aux = loss_fn(logits_fn, {"x": x0, "y": y.astype(jnp.float32)}, key)
    t, nll, acc = by_hand(process, x0, y, key, 0.1, 0.4, "antithetic")
    np.testing.assert_allclose(aux["t"], t, rtol=1e-14)
    np.testing.assert_allclose(loss, nll, rtol=1e-6)
    assert float(aux["accuracy"]) == np.float32(acc)


def test_float64_logits_are_reduced_in_float32(x64):
    """log-softmax in float32 whatever the logits' dtype; times in the data's dtype."""
    x0 = jax.random.normal(jax.random.key(0), (B, 4), jnp.float32)
    y = jnp.asarray([0, 1, 2, 1, 0, 2])
    loss, aux = losses.noisy_classifier_loss(VPLinear())(
        lambda x, t: logits_fn(x, t).astype(jnp.float64), {"x": x0, "label": y},
        jax.random.key(1))
    assert loss.dtype == jnp.float32 and aux["accuracy"].dtype == jnp.float32
    assert aux["t"].dtype == jnp.float32
    # The noise is drawn in float32 (a float64 draw would be other numbers).
    process = VPLinear()
    _, nll, _ = by_hand(process, x0, y, jax.random.key(1), process.t_min, process.t_max)
    np.testing.assert_allclose(loss, nll, rtol=1e-5)


@pytest.mark.parametrize("build, message", [
    (lambda: losses.noisy_classifier_loss(PFGMPP(D=8.0, data_dim=2)),
     "noisy_classifier_loss: process must be a diffax GaussianProcess (family 'gaussian': "
     "VPLinear, VPCosine, DiscreteDDPM, SubVP, VE, EDM, RectifiedFlow, ...), got PFGMPP of "
     "family 'pfgmpp'."),
    (lambda: losses.noisy_classifier_loss(VPLinear())(logits_fn, {"x": jnp.zeros((2, 4))},
                                                      jax.random.key(0)),
     "noisy_classifier_loss: batch has no 'label' entry (keys: ['x']); pass label_key=."),
    (lambda: losses.noisy_classifier_loss(VPLinear(), label_key="y")(
        logits_fn, {"x": jnp.zeros((2, 4)), "label": jnp.zeros(2, int)}, jax.random.key(0)),
     "noisy_classifier_loss: batch has no 'y' entry (keys: ['label', 'x']); pass label_key=."),
    (lambda: losses.noisy_classifier_loss(VPLinear(), t_min=0.5, t_max=0.2),
     "time_sampling 'uniform': need process.t_min <= t_min < t_max <= process.t_max, got "
     "t_min=0.5, t_max=0.2 for VPLinear with interval [0.001, 1.0]."),
])
def test_classifier_messages_in_full(build, message):
    with pytest.raises(ValueError) as info:
        build()
    assert str(info.value) == message
