"""Classifier-free guidance on a conditional Gaussian mixture with exact scores."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.analytic import GaussianMixture
from diffax.guidance import classifier_free_guidance
from diffax.processes import VPLinear
from diffax.samplers import get_sampler, pf_ode_reference, schedules

NULL = 2  # label 2 = unconditional


def setup():
    full = GaussianMixture.isotropic([0.3, 0.2, 0.5], [[-2.0, 0.0], [-1.0, 2.0], [2.0, 0.5]], 0.4)
    classes = [full.subset(np.array([0, 1])), full.component(2)]
    process = VPLinear()

    def log_p(x, t, label):  # log p_t(x | label), label == NULL -> log p_t(x)
        lps = jnp.stack([classes[0].log_prob(x, t, process), classes[1].log_prob(x, t, process),
                         full.log_prob(x, t, process)], -1)
        return jnp.take_along_axis(lps, label[:, None], -1)[:, 0]

    def score(x, t, label):
        return jax.grad(lambda x: log_p(x, t, label).sum())(x)

    def model_fn(x, t, label):  # exact conditional eps-predictor
        return -process.sigma(t)[:, None] * score(x, t, label)

    return full, classes, process, score, model_fn


def test_scale_one_is_conditional_and_scale_w_matches_guided_score(x64):
    full, classes, process, score, model_fn = setup()
    x = jax.random.normal(jax.random.PRNGKey(0), (32, 2)) * 2
    t = jnp.full((32,), 0.3)
    label = jnp.array([0, 1] * 16)
    guided1 = classifier_free_guidance(model_fn, 1.0, {"label": NULL})
    np.testing.assert_allclose(guided1(x, t, label=label), model_fn(x, t, label), atol=1e-12)
    for w in [0.0, 2.5, 7.0]:
        guided = classifier_free_guidance(model_fn, w, {"label": NULL})
        s_u = score(x, t, jnp.full((32,), NULL))
        s_c = score(x, t, label)
        expect_score = s_u + w * (s_c - s_u)  # grad log p(x) + w grad log p(c | x)
        eps = guided(x, t, label=label)
        np.testing.assert_allclose(-eps / process.sigma(t)[:, None], expect_score, atol=1e-10)
    # and the class-conditional score really differs from the unconditional one
    assert float(jnp.abs(score(x, t, label) - score(x, t, jnp.full((32,), NULL))).max()) > 0.1


def test_guided_sampling_scale_one_matches_conditional_flow(x64):
    full, classes, process, score, model_fn = setup()
    guided = classifier_free_guidance(model_fn, 1.0, {"label": NULL})
    x_T = process.prior_sample(jax.random.PRNGKey(1), (16, 2), jnp.float64)
    label = jnp.ones((16,), jnp.int32)
    ts = schedules.uniform_log_snr(process, 40)
    out = get_sampler("dpm_solver++_2m")(guided, process, x_T, ts, prediction="eps",
                                         cond={"label": label})
    ref = pf_ode_reference(classes[1].model_fn("eps", process), process, x_T, process.t_max,
                           process.t_min, rtol=1e-9, atol=1e-9).x
    assert float(jnp.abs(out.x - ref).max()) < 1e-2
    # a strong guidance scale raises the implicit classifier's confidence log p(c=1 | x)
    strong = classifier_free_guidance(model_fn, 4.0, {"label": NULL})
    out_w = get_sampler("dpm_solver++_2m")(strong, process, x_T, ts, prediction="eps",
                                           cond={"label": label})

    def log_p_class(x):  # log p(c=1 | x) = log p(x | c=1) + log p(c=1) - log p(x)
        return classes[1].log_prob(x) + jnp.log(0.5) - full.log_prob(x)

    assert float(log_p_class(out_w.x).mean()) > float(log_p_class(ref).mean())


def test_mismatched_cond_keys_raise():
    _, _, process, _, model_fn = setup()
    guided = classifier_free_guidance(model_fn, 2.0, {"label": NULL})
    with pytest.raises(ValueError, match="must match null_cond"):
        guided(jnp.zeros((2, 2)), jnp.full((2,), 0.5), klass=jnp.zeros((2,), jnp.int32))
