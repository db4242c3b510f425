"""LCM guided distillation on the exact oracle (issue 20): a 2-class 1-D mixture (class 0
= N(-1, 0.3^2), class 1 = N(1.5, 0.5^2)) on VP-linear; the teacher is the exact
class-conditional x0 model (label 2 = unconditional, the whole mixture), guided as
x0_w = (1 + w) x0(x | c) - w x0(x | null) with w ~ U[0.5, 2.5] (a narrower range than
LCM's [2, 14], which throws the 1-D trajectories far out); the student is an MLP
conditioned on the label and on w (keyword ``guidance_scale``).

Error at w = 1 and w = 2 = RMS over 4 points x ~ p_t(x | c) per class at each of the 50
DDIM levels of f_theta(x, t, c, w) - Phi^w(x, t -> t_min), the exact guided PF-ODE map
(adaptive Dopri8 on the guided exact model). Measured after 3000 steps: 0.076 (w = 1)
and 0.071 (w = 2) on one CPU, 0.145 / 0.144 on another, from 1.42 and 1.51 at
initialisation; the floor (the guided DDIM teacher chained down the levels) is 0.026 /
0.027, asserted < 10x floor (the spread over seeds and CPUs is in the test). The
dependence on w is only partly learnt: the exact maps at w = 1 and 2 differ by 0.119 RMS
and the student's difference is off by 0.092 on the first CPU, 0.63-0.78 x 0.119 over
five seeds on the second (asserted < 0.85 x 0.119).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from fit_mlp import fit

from diffax.analytic import GaussianMixture
from diffax.guidance import classifier_free_guidance
from diffax.nn import MLP
from diffax.objectives import consistency_segments as seg
from diffax.objectives.consistency import ode_consistency_function
from diffax.objectives.consistency_variants import GUIDANCE_KEY, lcm_distillation
from diffax.processes import VPLinear
from diffax.training.step import network_apply

LEVELS = np.arange(19, 1000, 20)
PER = 4
W_RANGE = (0.5, 2.5)


def mixture():
    return GaussianMixture.create(np.array([0.5, 0.5]), np.array([[-1.0], [1.5]]),
                                  np.array([[[0.09]], [[0.25]]]))


def teacher_fn(mix, p):
    models = [mix.component(0).model_fn("x0", p), mix.component(1).model_fn("x0", p),
              mix.model_fn("x0", p)]

    def teacher(q, x, t, label):
        outs = jnp.stack([m(x, t) for m in models])  # (3, B, 1)
        return jnp.take_along_axis(outs, label[None, :, None].astype(jnp.int32), 0)[0]

    return teacher


def objective(mix, p):
    return lcm_distillation(p, teacher_fn(mix, p), teacher_prediction="x0", prediction="x0",
                            guidance_range=W_RANGE, null_cond={"label": 2}, decay=0.0)


@pytest.fixture(scope="module")
def problem():
    prev = jax.config.read("jax_enable_x64")
    jax.config.update("jax_enable_x64", True)
    try:
        mix, p = mixture(), VPLinear()
        grid = seg.time_grid(p, 1000).astype(jnp.float64)
        ts = jnp.tile(jnp.repeat(grid[LEVELS], PER), 2)
        labels = jnp.repeat(jnp.arange(2), LEVELS.size * PER)
        k0, k1 = jax.random.split(jax.random.PRNGKey(3))
        half = LEVELS.size * PER
        xs = jnp.concatenate([mix.component(0).sample_marginal(k0, half, ts[:half], p),
                              mix.component(1).sample_marginal(k1, half, ts[half:], p)])
        teacher = teacher_fn(mix, p)
        out = {}
        for w in (1.0, 2.0):
            guided = classifier_free_guidance(lambda x, t, **c: teacher((), x, t, **c),
                                              1.0 + w, {"label": 2})
            f = ode_consistency_function(guided, p, prediction="x0", rtol=1e-9, atol=1e-9)
            out[w] = np.asarray(jax.jit(f)(xs, ts, label=labels) * p.alpha(p.t_min))
        # the floor: the teacher's guided DDIM steps chained down the levels
        obj = objective(mix, p)
        step = jax.jit(lambda x, a, b, w: obj.teacher_step((), x, a, b, {"label": labels}, w))
        idx = np.tile(np.repeat(LEVELS, PER), 2)
        floors = {}
        for w in out:
            chain = xs
            for hi in LEVELS[::-1]:
                full = lambda v: jnp.full(idx.shape, v)  # noqa: E731
                moved = step(chain, full(grid[hi]), full(grid[max(hi - 20, 0)]), full(w))
                chain = jnp.where((idx >= hi)[:, None], moved, chain)
            floors[w] = rms(chain, out[w])
        return (np.asarray(xs, np.float32), np.asarray(ts, np.float32), np.asarray(labels),
                out, floors)
    finally:
        jax.config.update("jax_enable_x64", prev)


def make_student(seed=0):
    model = MLP(2, out_dim=1, hidden=64, depth=2, num_classes=2, rngs=nnx.Rngs(seed))
    graphdef, params, buffers = nnx.split(model, nnx.Param, ...)
    apply = network_apply(graphdef)

    def net(q, x, t, label, guidance_scale):
        inp = jnp.concatenate([x, guidance_scale[:, None].astype(x.dtype) / W_RANGE[1]], -1)
        return apply(q, buffers, inp, t, label=label)

    return net, params


def rms(a, b):
    return float(np.sqrt(np.mean((np.asarray(a, np.float64) - b) ** 2)))


@pytest.mark.slow
def test_guided_student_matches_the_exact_guided_map(problem):
    xs, ts, labels, exact, floors = problem
    mix, p = mixture(), VPLinear()
    obj = objective(mix, p)
    net, params = make_student()

    @jax.jit
    def student(q, w):
        f = obj.model_fn(lambda x, t, **c: net(q, x, t, **c))
        return f(xs, ts, label=labels, **{GUIDANCE_KEY: jnp.full(xs.shape[:1], w)})

    def sample_batch(k):
        x, comp = mix.sample(k, 256, return_component=True)
        return {"x": x.astype(jnp.float32), "label": comp.astype(jnp.int32)}

    before = {w: rms(student(params, w), exact[w]) for w in exact}
    params, losses = fit(obj, net, params, obj.init(params), sample_batch, steps=3000, lr=2e-3)
    assert np.all(np.isfinite(np.asarray(losses)))
    after = {w: rms(student(params, w), exact[w]) for w in exact}
    # after / floor depends on the seeds and on the CPU's float paths: measured 2.8x on one
    # CPU; on another, over 9 (student seed, batch seed) pairs, 1.5x to 7.6x (the default
    # pair 5.6x, 0.145 against a floor of 0.026). The bound leaves room above that spread;
    # an untrained or broken student stays at about 1.4
    for w in exact:
        assert before[w] > 1.0 and after[w] < 10.0 * floors[w], (w, before, after, floors)
    # the student follows part of the change of the map with w: (f(w=2) - f(w=1)) against
    # the exact change (RMS 0.119) is off by 0.092 (ignoring w would be off by 0.119)
    change = exact[2.0] - exact[1.0]
    learnt = np.asarray(student(params, 2.0)) - np.asarray(student(params, 1.0))
    assert rms(change, 0.0) > 0.1 and rms(learnt, change) < 0.85 * rms(change, 0.0)
