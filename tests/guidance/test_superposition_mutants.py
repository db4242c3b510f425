"""SuperDiff (Skreta et al. 2025): the behaviours that mutation testing of
diffax/guidance/superposition.py found unpinned (docs/testing.md, "Mutation testing").

* OR with three models: kappa = softmax_i(log w_i + log q^i) at the first step, and one
  conditional network with per-model ``conds`` is the same sampler as three models;
* one step by hand: the tracked log-densities move by the Itô increment
  <s_i, dx> + h [d f + f <x, s_i> - g^2/2 ||s_i||^2]; OR's samples move by
  h g^2 sum_i kappa_i s_i plus noise (two weightings with the same key differ by the
  drift only); AND's kappa makes the two log-densities equal after the step, with
  kappa_1 + kappa_2 = 1;
* dtypes: float32 samples stay float32 under x64, with float64 time grids, log-weights
  and initial log-densities (each cast to the samples' dtype);
* every argument check, with its whole message.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.analytic import GaussianMixture
from diffax.guidance import superposition
from diffax.processes import VPLinear

PROCESS = VPLinear()
MEANS = ([-1.0, 0.0], [1.0, 0.5], [0.0, -1.5])


def _models():
    return [GaussianMixture.isotropic([1.0], [mu], 0.5).model_fn("eps", PROCESS)
            for mu in MEANS]


def test_or_with_three_models_and_per_model_conds(x64):
    """Three models, or one network conditioned on the model index through ``conds``:
    the same samples, densities and weights; the first step's weights are
    softmax(log q + log w) over the three models."""
    models = _models()

    def conditional(x, t, index):
        return models[index](x, t)

    x = jax.random.normal(jax.random.PRNGKey(0), (4, 2))
    ts = np.asarray([0.9, 0.7, 0.5])
    lp = [jnp.asarray([-1.0, -2.0, 0.5, 0.0]), jnp.asarray([-1.5, 0.0, 0.4, 1.0]),
          jnp.asarray([0.2, -0.3, -1.0, 0.5])]
    log_w = jnp.log(jnp.asarray([0.2, 0.3, 0.5]))
    kw = dict(key=jax.random.PRNGKey(1), mode="or", log_weights=log_w, log_prob_init=lp)
    three = superposition(models, PROCESS, x, ts, **kw)
    one = superposition([conditional] * 3, PROCESS, x, ts,
                        conds=[{"index": i} for i in range(3)], **kw)
    np.testing.assert_allclose(three.kappa[0], jax.nn.softmax(jnp.stack(lp) + log_w[:, None],
                                                              axis=0), rtol=1e-12)
    assert three.kappa.shape == (2, 3, 4) and three.nfe == 6
    for a, b in ((three.x, one.x), (three.log_densities, one.log_densities),
                 (three.kappa, one.kappa)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    # the conds do reach the network: swapping them changes the samples
    swapped = superposition([conditional] * 3, PROCESS, x, ts,
                            conds=[{"index": i} for i in (2, 1, 0)], **kw)
    assert float(jnp.max(jnp.abs(swapped.x - three.x))) > 1e-3


def _one_step_case():
    models = _models()[:2]
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 2)) * 1.5
    t, t_next = 0.6, 0.55
    lp = [jnp.asarray([-1.0, -2.0, 0.5, 0.0]), jnp.asarray([-1.5, 0.0, 0.4, 1.0])]
    tt = jnp.full((4,), t)
    scores = [-m(x, tt) / PROCESS.sigma(tt)[:, None] for m in models]  # score = -eps / sigma
    return models, x, t, t_next, lp, scores


def _ito_increment(x, x_next, s, t, t_next):
    f, g2 = PROCESS.drift_coef(t), PROCESS.diffusion_sq(t)
    return (jnp.sum(s * (x_next - x), -1)
            + (t - t_next) * (2 * f + f * jnp.sum(x * s, -1) - 0.5 * g2 * jnp.sum(s * s, -1)))


def test_one_or_step_by_hand(x64):
    models, x, t, t_next, lp, scores = _one_step_case()
    ts = np.asarray([t, t_next])
    outs = [superposition(models, PROCESS, x, ts, key=jax.random.PRNGKey(3), mode="or",
                          log_weights=np.log(w), log_prob_init=lp)
            for w in ([0.5, 0.5], [0.9, 0.1])]
    for out in outs:
        for i in range(2):
            np.testing.assert_allclose(out.log_densities[i] - lp[i],
                                       _ito_increment(x, out.x, scores[i], t, t_next),
                                       rtol=1e-10, atol=1e-12)
    mixed = [jnp.sum(o.kappa[0][:, :, None] * jnp.stack(scores), axis=0) for o in outs]
    g2 = PROCESS.diffusion_sq(t)
    np.testing.assert_allclose(outs[0].x - outs[1].x, (t - t_next) * g2 * (mixed[0] - mixed[1]),
                               rtol=1e-10, atol=1e-12)
    assert float(jnp.max(jnp.abs(outs[0].x - outs[1].x))) > 1e-2


def test_one_and_step_by_hand(x64):
    """AND: from unequal log-densities, one step makes them equal; the weights sum to one
    and are not clipped to [0, 1]."""
    models, x, t, t_next, lp, scores = _one_step_case()
    out = superposition(models, PROCESS, x, np.asarray([t, t_next]), key=jax.random.PRNGKey(3),
                        mode="and", log_prob_init=lp)
    np.testing.assert_allclose(out.log_densities[0], out.log_densities[1], rtol=0, atol=1e-10)
    for i in range(2):
        np.testing.assert_allclose(out.log_densities[i] - lp[i],
                                   _ito_increment(x, out.x, scores[i], t, t_next),
                                   rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out.kappa[0].sum(0), 1.0, rtol=1e-12)
    assert float(jnp.max(jnp.abs(out.kappa[0]))) > 1.0


@pytest.mark.parametrize("mode", ["or", "and"])
def test_float32_samples_stay_float32_under_x64(x64, mode):
    """A float32 network (here the exact eps, cast to the input's dtype) keeps float32
    samples, densities and weights."""
    models = [lambda x, t, f=f: f(x, t).astype(x.dtype) for f in _models()[:2]]
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 2), jnp.float32)
    out = superposition(models, PROCESS, x, np.asarray([0.9, 0.7, 0.5]),
                        key=jax.random.PRNGKey(1), mode=mode,
                        log_weights=np.log([0.4, 0.6]),
                        log_prob_init=[np.zeros(4), lambda z: jnp.ones(4, jnp.float64)])
    assert (out.x.dtype, out.log_densities.dtype, out.kappa.dtype) == (jnp.float32,) * 3


def test_every_argument_check_with_its_message():
    m = _models()[:2]
    x, ts, key = jnp.zeros((3, 2)), np.asarray([0.9, 0.8]), jax.random.PRNGKey(0)
    cases = [
        (dict(fns=m[:1]), "superposition: needs at least two models, got 1."),
        (dict(mode="xor"), "superposition: unknown mode 'xor'; valid choices: ['or', 'and']."),
        (dict(fns=m + m[:1], mode="and"),
         "superposition: mode='and' combines exactly two models, got 3."),
        (dict(ts=ts[::-1]), "superposition: timesteps must decrease strictly from t_max "
         "towards t_min (a decreasing grid t_0 > ... > t_N; use diffax.samplers.schedules); "
         "got [0.8 0.9]."),
        (dict(conds=[{}]), "superposition: got 1 conds for 2 models."),
        (dict(log_weights=[0.0]),
         "superposition: log_weights must have shape (2,), got shape (1,)."),
        (dict(log_prob_init=[None]), "superposition: got 1 log_prob_init for 2 models."),
        (dict(log_prob_init=[None, jnp.zeros(2)]), "superposition: log_prob_init must give "
         "one value per example, shape (3,), got (2,)."),
        (dict(log_prob_init=[None, lambda z: jnp.zeros((3, 1))]), "superposition: "
         "log_prob_init must give one value per example, shape (3,), got (3, 1)."),
    ]
    for kw, msg in cases:
        fns, grid = kw.pop("fns", m), kw.pop("ts", ts)
        with pytest.raises(ValueError, match="^" + re.escape(msg) + "$"):
            superposition(fns, PROCESS, x, grid, key=key, **kw)
