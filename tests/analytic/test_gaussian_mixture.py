"""Value checks of :class:`diffax.analytic.GaussianMixture` itself: conditioning on
components and classes (responsibilities, subsets, class probabilities, the classifier
guidance identity), the constructors and their errors. The exact densities, scores,
predictions and sampling: test_gaussian_mixture_kernels.py; the linear-Gaussian
posterior: test_gaussian_mixture_posterior.py."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.analytic import GaussianMixture
from diffax.processes import get_process
from mixture_helpers import params, points as _points, scipy_log_prob


# ---- conditioning helpers ----------------------------------------------------------------


def test_responsibilities_subsets_and_class_probs(x64):
    w, m, c = params()
    gm = GaussianMixture.create(w, m, c)
    process = get_process("vp_linear")
    x = jnp.asarray(_points())
    t = 0.4
    r = np.asarray(gm.responsibilities(x, t, process))
    np.testing.assert_allclose(r.sum(-1), 1.0, rtol=1e-12)
    total = gm.log_prob(x, t, process)
    for k in range(3):
        comp = gm.component(k)
        assert comp.weights.shape == (1,)
        np.testing.assert_allclose(np.log(r[:, k]),
                                   np.log(w[k]) + comp.log_prob(x, t, process) - total,
                                   rtol=1e-10)

    # classes: {0, 2} -> class 0, {1} -> class 1
    labels = jnp.asarray([0, 1, 0])
    cp = np.asarray(gm.class_probs(x, labels, 2, t, process))
    np.testing.assert_allclose(cp[:, 0], r[:, 0] + r[:, 2], rtol=1e-12)
    sub = gm.subset(jnp.asarray([0, 2]))
    np.testing.assert_allclose(sub.weights, w[[0, 2]] / w[[0, 2]].sum(), rtol=1e-12)
    # Bayes: p(c | x_t) = P(c) p_t(x | c) / p_t(x)
    np.testing.assert_allclose(np.log(cp[:, 0]),
                               np.log(w[0] + w[2]) + sub.log_prob(x, t, process) - total,
                               rtol=1e-10)
    # classifier guidance identity: grad log p(c|x_t) = score(x | c) - score(x)
    grad_cls = jax.vmap(jax.grad(
        lambda xi: jnp.log(gm.class_probs(xi, labels, 2, t, process)[0])))(x)
    np.testing.assert_allclose(grad_cls, sub.score(x, t, process) - gm.score(x, t, process),
                               rtol=1e-8, atol=1e-10)


# ---- constructors and errors ---------------------------------------------------------------


def test_constructors_agree_and_normalise(x64):
    means = np.array([[0.0, 1.0], [2.0, -1.0]])
    gd = GaussianMixture.diagonal([2.0, 6.0], means, [[1.0, 2.0], [0.5, 0.25]])
    np.testing.assert_allclose(gd.weights, [0.25, 0.75])
    np.testing.assert_allclose(gd.covs[1], np.diag([0.5, 0.25]))
    gi = GaussianMixture.isotropic([1.0, 1.0], means, [1.0, 3.0])
    np.testing.assert_allclose(gi.covs[1], 9.0 * np.eye(2))
    gs = GaussianMixture.isotropic([1.0, 1.0], means, 0.5)
    np.testing.assert_allclose(gs.covs, 0.25 * np.broadcast_to(np.eye(2), (2, 2, 2)))
    x = _points(3)
    ref = scipy_log_prob(x, np.array([0.5, 0.5]), means, np.stack([np.eye(2), 9 * np.eye(2)]))
    np.testing.assert_allclose(gi.log_prob(x), ref, rtol=1e-12)


@pytest.mark.parametrize(
    "args, match",
    [
        (([0.5, -0.5], np.zeros((2, 2)), np.stack([np.eye(2)] * 2)), "weights must be finite and > 0"),
        (([[0.5, 0.5]], np.zeros((2, 2)), np.stack([np.eye(2)] * 2)), "weights must be 1-D"),
        (([0.5, 0.5], np.zeros((3, 2)), np.stack([np.eye(2)] * 2)), r"means must have shape \(K, d\)"),
        (([0.5, 0.5], np.zeros((2, 2)), np.stack([np.eye(3)] * 2)), r"covs must have shape"),
        (([0.5, 0.5], np.zeros((2, 2)), np.stack([np.eye(2), [[1.0, 0.5], [0.0, 1.0]]])),
         r"covs\[1\] is not symmetric"),
        (([0.5, 0.5], np.zeros((2, 2)), np.stack([np.eye(2), [[1.0, 2.0], [2.0, 1.0]]])),
         r"covs\[1\] is not positive definite"),
        (([1.0], np.array([[np.nan, 0.0]]), np.eye(2)[None]), "means contain non-finite"),
    ],
)
def test_create_rejects_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        GaussianMixture.create(*args)


def test_other_bad_input_raises():
    means = np.zeros((2, 2))
    with pytest.raises(ValueError, match="variances must be finite and > 0"):
        GaussianMixture.diagonal([1, 1], means, [[1.0, 0.0], [1.0, 1.0]])
    with pytest.raises(ValueError, match="std must be finite and > 0"):
        GaussianMixture.isotropic([1, 1], means, -1.0)
    with pytest.raises(ValueError, match=r"std must be a scalar or have shape \(K,\)"):
        GaussianMixture.isotropic([1, 1], means, [1.0, 1.0, 1.0])
    gm = GaussianMixture.isotropic([1, 1], means, 1.0)
    process = get_process("vp_linear")
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., d\) with d=2"):
        gm.score(np.zeros((4, 3)), 0.5, process)
    with pytest.raises(ValueError, match="process=None"):
        gm.log_prob(np.zeros((4, 2)), 0.5)
    with pytest.raises(ValueError, match="does not match the leading dimensions"):
        gm.score(np.zeros((4, 2)), np.full((3,), 0.5), process)
    with pytest.raises(ValueError, match="unknown prediction kind"):
        gm.predict("noise", np.zeros((4, 2)), 0.5, process)
    with pytest.raises(ValueError, match="indices must be non-empty"):
        gm.subset([0, 2])
