"""Consistency models (issue 20): the parameterisation, the schedules pinned to the papers,
the exact consistency function on the oracle (self-consistency along exact trajectories,
the closed-form Gaussian map), the CD loss as a self-consistency detector, and training
through the unchanged train step (EMA target and step counter in ``aux``).
(Distillation converging to the exact map: test_consistency_distillation.py.)"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from scipy import stats

from diffax import training as tr
from diffax.analytic import GaussianMixture, gaussian_pf_ode_solution
from diffax.nn import MLP
from diffax.objectives import consistency_schedule as cs
from diffax.objectives import get_objective
from diffax.objectives.consistency import (consistency_distillation, consistency_model_fn,
                                           consistency_scalings, consistency_training,
                                           ode_consistency_function)
from diffax.processes import EDM, VPLinear
from diffax.processes.edm import karras_sigmas
from diffax.samplers import pf_ode_reference

MEAN = np.array([0.5, -1.0])
COV = np.array([[0.6, 0.2], [0.2, 0.3]])


# ---- parameterisation --------------------------------------------------------------------

@pytest.mark.parametrize("process", [EDM(), VPLinear()], ids=["edm", "vp"])
def test_boundary_condition_is_exact_and_scalings_match_the_paper(x64, process):
    """f(x, t_min) = x / alpha(t_min) bit for bit (c_skip = 1, c_out = 0 at sigma_min);
    elsewhere f = c_skip y + c_out F(c_in y, log(sigma)/4) with CM's c_skip, c_out."""
    net = lambda x_in, c_noise: jnp.sin(3 * x_in) + c_noise[:, None]  # noqa: E731
    f = consistency_model_fn(net, process, sigma_data=0.5)
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 3), jnp.float64)
    a_min = process.alpha(process.t_min)
    np.testing.assert_array_equal(f(x, jnp.full((4,), process.t_min)), x / a_min)
    s_min = float(process.sigma(process.t_min) / a_min)
    t = jnp.array([0.3, 0.5, 0.7, 0.9]) * process.t_max
    s = process.sigma(t) / process.alpha(t)
    y = x / process.alpha(t)[:, None]
    c_skip = 0.25 / ((s - s_min) ** 2 + 0.25)
    c_out = (s - s_min) * 0.5 / jnp.sqrt(s ** 2 + 0.25)
    c_in = 1 / jnp.sqrt(s ** 2 + 0.25)
    want = c_skip[:, None] * y + c_out[:, None] * net(c_in[:, None] * y, jnp.log(s) / 4)
    np.testing.assert_allclose(f(x, t), want, rtol=1e-13)
    assert consistency_scalings(jnp.float64(0.002), 0.5, 0.002)[:2] == (1.0, 0.0)


# ---- schedules ---------------------------------------------------------------------------

def test_karras_levels_are_edm_eq5_from_the_bottom():
    n = 18
    want = np.asarray(karras_sigmas(n, 0.002, 80.0, 7.0))[::-1]
    got = jax.jit(lambda n: cs.karras_level(jnp.arange(1, 19), n, 0.002, 80.0))(n)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_ict_curriculum_doubles_every_stage():
    """iCT CIFAR-10: K = 400k, s0 = 10, s1 = 1280: K' = floor(400k / (log2 128 + 1)) = 50k."""
    c = cs.ICTCurriculum(400_000)
    assert c.stage_steps == 50_000 and c.max_levels == 1281
    ks = jnp.array([0, 49_999, 50_000, 100_000, 300_000, 349_999, 350_000, 10 ** 6])
    np.testing.assert_array_equal(c.num_levels(ks), [11, 11, 21, 41, 641, 641, 1281, 1281])
    assert float(c.decay(123)) == 0.0


def test_ct_curriculum_and_ema_decay():
    """CM App. C with s0 = 2, s1 = 150, mu0 = 0.9: N(0) = 2, N(K) = 151, and at k = K/2
    ceil(sqrt((151^2 - 4)/2 + 4) - 1) + 1 = ceil(105.78) + 1 = 107; mu(k) = 0.9^(2/N(k))."""
    c = cs.CTCurriculum(1000)
    np.testing.assert_array_equal(c.num_levels(jnp.array([0, 500, 1000, 5000])),
                                  [2, 107, 151, 151])
    np.testing.assert_allclose(c.decay(jnp.array([0, 1000])), [0.9, 0.9 ** (2 / 151)],
                               rtol=1e-6)


def test_lognormal_levels_are_the_lognormal_mass_between_levels():
    """p(n) prop. to P(sigma_n < sigma < sigma_{n+1}) for ln sigma ~ N(-1.1, 2^2) (iCT
    Sec. 3.5), against scipy; only n in 1..N-1; frequencies within 5 binomial SE."""
    n_levels, max_levels = 41, 161
    logits = cs.lognormal_level_logits(jnp.int32(n_levels), max_levels, 0.002, 80.0)
    assert logits.shape == (max_levels - 1,) and np.all(np.isinf(logits[n_levels - 1:]))
    levels = np.asarray(karras_sigmas(n_levels, 0.002, 80.0))[::-1].astype(np.float64)
    mass = np.diff(stats.norm.cdf(np.log(levels), loc=-1.1, scale=2.0))
    probs = np.asarray(jax.nn.softmax(logits))[: n_levels - 1]
    np.testing.assert_allclose(probs, mass / mass.sum(), rtol=2e-4, atol=1e-7)
    draws = 50_000
    n = cs.sample_levels(jax.random.PRNGKey(0), draws, jnp.int32(n_levels), max_levels,
                         "lognormal", 0.002, 80.0)
    assert int(n.min()) >= 1 and int(n.max()) <= n_levels - 1
    freq = np.bincount(np.asarray(n), minlength=n_levels)[1:] / draws
    se = np.sqrt(probs * (1 - probs) / draws)
    assert np.all(np.abs(freq - probs) < 5 * se + 1e-12)
    u = cs.sample_levels(jax.random.PRNGKey(1), 10_000, jnp.int32(5), 0, "uniform", 0.002, 80.0)
    assert sorted(set(np.asarray(u).tolist())) == [1, 2, 3, 4]


def test_distances_and_weighting():
    """Pseudo-Huber sqrt(r^2 + c^2) - c (a 3-4-5 triangle: r = 3, c = 4 gives 1); iCT's
    c = 0.00054 sqrt(3072) = 0.0299 for CIFAR-10 (the paper's 0.03); l2 is r^2."""
    a, b = jnp.array([[3.0, 0.0]]), jnp.zeros((1, 2))
    assert float(cs.distance(a, b, "pseudo_huber", c=4.0)[0]) == 1.0
    assert float(cs.distance(a, b, "l2")[0]) == 9.0
    assert math.isclose(cs.huber_c(3 * 32 * 32), 0.0299, abs_tol=5e-5)
    w = cs.level_weight(jnp.array([0.5]), jnp.array([0.75]), "inverse_gap")
    assert float(w[0]) == 4.0
    with pytest.raises(ValueError, match=r"kind.*'l3'.*\['l2', 'pseudo_huber'\]"):
        cs.distance(a, b, "l3")


# ---- the exact consistency function on the oracle ----------------------------------------

def test_exact_consistency_function_is_self_consistent_along_exact_trajectories(x64):
    """f*(x_t, t) is the same point for every t on one exact PF-ODE trajectory of the 2-D
    three-component mixture (to the solver tolerance, 1e-10), and equals the trajectory's
    end; f*(x, t_min) = x."""
    gmm = GaussianMixture.create(np.array([0.5, 0.3, 0.2]),
                                 np.array([[-1.5, 0.5], [1.0, 1.5], [0.5, -2.0]]),
                                 np.array([[[0.3, 0.1], [0.1, 0.2]], np.eye(2) * 0.1,
                                           [[0.2, -0.05], [-0.05, 0.4]]]))
    p = EDM()
    model = gmm.model_fn("x0", p)
    x_T = 80.0 * jax.random.normal(jax.random.PRNGKey(3), (3, 2), jnp.float64)
    times = jnp.array([80.0, 20.0, 5.0, 1.0, 0.2, 0.02, 0.002])
    traj = jnp.swapaxes(pf_ode_reference(model, p, x_T, 80.0, 0.002, prediction="x0",
                                         solver="tsit5", rtol=1e-11, atol=1e-11,
                                         ts_save=times).trajectory, 0, 1)
    f = jax.jit(ode_consistency_function(model, p, prediction="x0", solver="tsit5"))
    points = traj.reshape(-1, 2)  # (3 trajectories x 7 times, 2)
    out = f(points, jnp.tile(times, 3)).reshape(3, len(times), 2)
    np.testing.assert_allclose(out, jnp.broadcast_to(traj[:, -1:], out.shape), atol=1e-8)
    assert float(jnp.abs(out - out[:, :1]).max()) < 1e-8
    np.testing.assert_array_equal(out[:, -1], traj[:, -1])  # t = t_min: the identity


def test_exact_consistency_function_matches_the_closed_form_gaussian_map(x64):
    """For Gaussian data the PF-ODE map is closed form (diffax.analytic.gaussian_pf_ode):
    f*(x, t) = Phi_{t -> t_min}(x) / alpha(t_min), on VP-linear (alpha != 1; EDM is
    covered by the CD-loss test below)."""
    process = VPLinear()
    gauss = GaussianMixture.gaussian(MEAN, COV)
    model = gauss.model_fn("eps", process)
    x = jax.random.normal(jax.random.PRNGKey(1), (6, 2), jnp.float64)
    t = jnp.linspace(0.2, 1.0, 6) * process.t_max
    x = x * process.sigma(t)[:, None]
    got = jax.jit(ode_consistency_function(model, process))(x, t)
    want = jnp.stack([gaussian_pf_ode_solution(MEAN, COV, process, x[i], t[i], process.t_min)
                      for i in range(6)]) / process.alpha(process.t_min)
    np.testing.assert_allclose(got, want, atol=1e-8)


def _exact_gaussian_net(process, sigma_data=0.5):
    """A 'network' whose consistency parameterisation is exactly f* of N(MEAN, COV) on
    the EDM process (F = (f* - c_skip y) / c_out; c_out = 0 only at sigma_min)."""
    def net(params, x_in, c_noise):
        s = jnp.exp(4 * c_noise)
        y = x_in * jnp.sqrt(s ** 2 + sigma_data ** 2)[:, None]
        c_skip, c_out, _, _ = consistency_scalings(s, sigma_data, process.t_min)
        f = jax.vmap(lambda yb, sb: gaussian_pf_ode_solution(MEAN, COV, process, yb, sb,
                                                             process.t_min))(y, s)
        return (f - c_skip[:, None] * y) / jnp.where(c_out == 0, 1.0, c_out)[:, None]
    return net


def test_cd_loss_vanishes_exactly_for_the_exact_consistency_function(x64):
    """With the teacher's step taken by the exact adaptive ODE solve ('diffrax_pf_ode'),
    the CD loss of f* is 0 to solver tolerance (self-consistency between adjacent levels);
    with an Euler teacher step it is O(step^2) per pair and clearly positive, and the
    per-example vmapped teacher step equals one sampler call per example."""
    p = EDM()
    gauss = GaussianMixture.gaussian(MEAN, COV)
    teacher = lambda params, x, t: gauss.model_fn("x0", p)(x, t)  # noqa: E731
    net = _exact_gaussian_net(p)
    batch = {"x": gauss.sample(jax.random.PRNGKey(2), 64)}
    losses = {}
    for sampler, options in [("diffrax_pf_ode", {"rtol": 1e-11, "atol": 1e-11}),
                             ("euler", {})]:
        obj = consistency_distillation(p, teacher, sampler=sampler, sampler_options=options,
                                       num_levels=10, decay=0.0)
        aux = obj.init(())
        losses[sampler] = float(jax.jit(lambda b: obj.loss(net, (), aux, b,
                                                           jax.random.PRNGKey(4))[0])(batch))
    assert losses["diffrax_pf_ode"] < 1e-14 and losses["euler"] > 1e-4, losses
    obj = consistency_distillation(p, teacher, sampler="euler", num_levels=10)
    x = batch["x"][:3]
    t0, t1 = jnp.array([1.0, 5.0, 20.0]), jnp.array([0.5, 2.0, 10.0])
    got = obj.teacher_step((), x, t0, t1, {})
    for i in range(3):
        v = (x[i] - teacher((), x[i:i + 1], t0[i:i + 1])[0]) / t0[i]  # dx/dsigma on EDM
        np.testing.assert_allclose(got[i], x[i] + (t1[i] - t0[i]) * v, rtol=1e-12)


# ---- training through the unchanged train step -------------------------------------------

def _train(objective, steps, seed=0):
    net = MLP(2, hidden=16, depth=1, time_scale=100.0, rngs=nnx.Rngs(seed))
    tx = optax.adam(1e-3)
    graphdef, state = tr.create_train_state(net, tx, seed=0, objective=objective)
    step = jax.jit(tr.make_train_step(graphdef, objective, tx))
    gauss = GaussianMixture.gaussian(MEAN, COV)
    x = gauss.sample(jax.random.PRNGKey(9), 64).astype(jnp.float32)
    history = [state]
    for _ in range(steps):
        state, metrics = step(state, {"x": x})
        assert np.isfinite(float(metrics["loss"]))
        history.append(state)
    return history


def test_ict_trains_without_a_target_and_counts_steps():
    obj = consistency_training(EDM(), total_steps=16)
    assert (obj.level_sampling, obj.weighting, obj.distance) == (
        "lognormal", "inverse_gap", "pseudo_huber")
    history = _train(obj, 5)
    assert history[-1].aux["target"] == () and int(history[-1].aux["step"]) == 5


def test_ct_target_is_the_ema_with_the_curriculum_decay():
    """theta^-_{k+1} = mu(k) theta^-_k + (1 - mu(k)) theta_{k+1}, mu(k) = exp(s0 ln mu0 /
    N(k)) (CM Alg. 3), replayed on the host from the recorded parameters."""
    obj = get_objective("consistency_training", EDM(), total_steps=4, variant="ct")
    history = _train(obj, 4)
    target = jax.tree.map(np.asarray, history[0].params)
    for k in range(4):
        n = math.ceil(math.sqrt(k / 4 * (151 ** 2 - 4) + 4) - 1) + 1
        mu = math.exp(2 * math.log(0.9) / n)
        target = jax.tree.map(lambda e, p: mu * e + (1 - mu) * np.asarray(p), target,
                              history[k + 1].params)
    for got, want in zip(jax.tree.leaves(history[-1].aux["target"]), jax.tree.leaves(target)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_bad_options_are_refused():
    p = EDM()
    with pytest.raises(ValueError, match=r"variant.*'ict2'.*\['ict', 'ct'\]"):
        consistency_training(p, total_steps=10, variant="ict2")
    with pytest.raises(ValueError, match="stochastic"):
        consistency_distillation(p, lambda prm, x, t: x, sampler="ddim_eta1")
    with pytest.raises(ValueError, match="unknown sampler"):
        consistency_distillation(p, lambda prm, x, t: x, sampler="eulr")
    with pytest.raises(ValueError, match=r"unknown option"):
        get_objective("consistency_training", p, total_steps=10, variantt="ct")
    with pytest.raises(ValueError, match="distance"):
        consistency_training(p, total_steps=10, distance="lpips")
    obj = consistency_training(p, total_steps=10)
    with pytest.raises(ValueError, match="loss_mask"):
        obj.loss(lambda prm, x, c: x, (), obj.init(()), {"x": jnp.ones((2, 2)),
                                                         "loss_mask": jnp.ones((2, 2))},
                 jax.random.PRNGKey(0))
