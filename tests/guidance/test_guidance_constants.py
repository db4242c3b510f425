"""Guidance formulas and their defaults against hand computations:

* SuperDiff OR (Skreta et al. 2025): kappa = softmax(T log q + log w) with the default
  T = 1 (the exact mixture); the temperature multiplies the log-densities only;
* denoised classifier guidance (Ma et al. 2024): the guided score is
  score + w(t) grad_{x0} [tau f_y(x0) - logsumexp(tau m f(x0))] at x0_hat, with
  w(t) = scale (1 + gamma sin(pi u)), u = (t - t_min)/(t_max - t_min), and the defaults
  tau = 1, m = 1, gamma = 0 (plain log-softmax guidance). For a linear classifier
  f(x0) = W x0 the gradient is tau W_y - tau m softmax(tau m W x0)^T W.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax import predictions
from diffax.analytic import GaussianMixture
from diffax.guidance import denoised_classifier_guidance, superposition
from diffax.processes import VPLinear

PROCESS = VPLinear()


@pytest.mark.parametrize("temperature", [None, 2.5])
def test_or_weights_at_the_first_step(x64, temperature):
    g1 = GaussianMixture.isotropic([1.0], [[-1.0, 0.0]], 0.5)
    g2 = GaussianMixture.isotropic([1.0], [[1.0, 0.0]], 0.5)
    x = jnp.asarray([[0.3, 0.1], [-0.4, 0.2], [1.0, -1.0]])
    lp = [jnp.asarray([-1.0, -2.0, 0.5]), jnp.asarray([-1.5, 0.0, 0.4])]
    log_w = jnp.log(jnp.asarray([0.3, 0.7]))
    kw = {} if temperature is None else {"temperature": temperature}
    out = superposition([g1.model_fn("eps", PROCESS), g2.model_fn("eps", PROCESS)], PROCESS,
                        x, jnp.asarray([0.9, 0.8]), key=jax.random.PRNGKey(0), mode="or",
                        log_weights=log_w, log_prob_init=lp, **kw)
    tau = 1.0 if temperature is None else temperature
    want = jax.nn.softmax(tau * jnp.stack(lp) + log_w[:, None], axis=0)
    np.testing.assert_allclose(out.kappa[0], want, rtol=1e-12)


def _linear_classifier_case():
    gm = GaussianMixture.isotropic([0.5, 0.5], [[-1.0, 0.5], [1.0, -0.5]], 0.4)
    w = jnp.asarray([[1.0, -0.5], [-0.3, 0.8], [0.2, 0.2]])  # 3 classes
    x = jnp.asarray([[0.4, -0.2], [-0.7, 0.9]])
    y = jnp.asarray([0, 2])
    return gm.model_fn("eps", PROCESS), w, x, y


@pytest.mark.parametrize("opts", [{}, {"temperature": 2.0, "margin_discount": 0.6,
                                       "gamma": 0.3}])
def test_denoised_classifier_guidance_by_hand(x64, opts):
    model, w, x, y = _linear_classifier_case()
    t, scale = 0.37, 1.7
    guided = denoised_classifier_guidance(model, lambda x0: x0 @ w.T, PROCESS, scale=scale,
                                          **opts)
    out = guided(x, jnp.full((2,), t), label=y)
    tau, m, gamma = (opts.get(k, d) for k, d in (("temperature", 1.0),
                                                  ("margin_discount", 1.0), ("gamma", 0.0)))
    tt = jnp.full((2,), t)
    x0 = predictions.convert(model(x, tt), "eps", "x0", x, tt, PROCESS)
    probs = jax.nn.softmax(tau * m * (x0 @ w.T), axis=-1)
    grad = tau * w[y] - tau * m * probs @ w
    u = (t - PROCESS.t_min) / (PROCESS.t_max - PROCESS.t_min)
    weight = scale * (1.0 + gamma * math.sin(math.pi * u))
    score = predictions.convert(model(x, tt), "eps", "score", x, tt, PROCESS)
    want = predictions.convert(score + weight * grad, "score", "eps", x, tt, PROCESS)
    np.testing.assert_allclose(out, want, rtol=1e-10)


def test_classifier_free_guidance_by_hand_with_vector_conditions():
    """CFG (Ho & Salimans 2022): u + w (c - u) for a (B, D) conditioning with a null vector;
    both branches run in one call whose batch is [cond rows; null rows]."""
    from diffax.guidance import classifier_free_guidance

    w_mat = jnp.asarray([[0.5, -1.0], [2.0, 0.3], [-0.7, 1.1]])

    def model(x, t, emb):
        assert emb.shape == (x.shape[0], 3)   # rows stacked (2B), features kept
        return x * t[:, None] + emb @ w_mat

    x, t = jnp.asarray([[1.0, 2.0], [-1.0, 0.5]]), jnp.asarray([0.3, 0.8])
    emb, null = jnp.asarray([[1.0, 0.0, 2.0], [0.5, -1.0, 0.0]]), jnp.asarray([0.1, 0.2, 0.3])
    out = classifier_free_guidance(model, 2.5, {"emb": null})(x, t, emb=emb)
    c = x * t[:, None] + emb @ w_mat
    u = x * t[:, None] + null @ w_mat
    np.testing.assert_allclose(out, u + 2.5 * (c - u), rtol=1e-6)


def test_classifier_free_guidance_gives_the_null_label_the_labels_dtype():
    """The model sees one label array in the dtype it was given (uint8 here), the null
    label cast to it (a Python int would otherwise promote the batch to int32)."""
    from diffax.guidance import classifier_free_guidance

    seen = []

    def model(x, t, label):
        seen.append(label.dtype)
        return x + label[:, None].astype(x.dtype)

    x = jnp.zeros((2, 2))
    out = classifier_free_guidance(model, 3.0, {"label": 10})(
        x, jnp.asarray([0.5, 0.5]), label=jnp.asarray([1, 2], jnp.uint8))
    assert seen == [jnp.uint8]
    np.testing.assert_allclose(out[:, 0], 10 + 3.0 * (jnp.asarray([1, 2]) - 10))
