"""Minibatch couplings (OT-CFM, Immiscible diffusion): the assignment is an optimal
permutation, the minibatch OT plan tends to the closed-form Gaussian OT map as the batch
grows, and an OT-CFM-trained velocity field's one-step map recovers that map."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fit_mlp import fit, make_net

from diffax import objectives
from diffax.objectives.couplings import (
    couple,
    coupled_loss,
    knn_noise,
    ot_assignment,
    ot_cfm_objective,
    pairing_cost,
)
from diffax.processes import RectifiedFlow, VPLinear
from diffax.samplers.euler import euler

M0, S0 = np.array([0.5, -1.0]), np.array([[1.0, 0.3], [0.3, 0.5]])
M1, S1 = np.array([2.0, 1.0]), np.array([[0.4, -0.2], [-0.2, 0.9]])


def sqrtm(s):
    w, u = np.linalg.eigh(s)
    return (u * np.sqrt(w)) @ u.T


def ot_matrix(s0, s1):
    """A = S0^{-1/2} (S0^{1/2} S1 S0^{1/2})^{1/2} S0^{-1/2}: the Gaussian OT map's matrix."""
    r0 = sqrtm(s0)
    ir0 = np.linalg.inv(r0)
    return ir0 @ sqrtm(r0 @ s1 @ r0) @ ir0


def test_assignment_is_the_optimal_permutation():
    """Brute force over all 6! pairings of 6 points in (3, 2)-shaped examples: the
    assignment is a permutation whose cost is the minimum (so <= the identity's)."""
    kx, ke = jax.random.split(jax.random.PRNGKey(0))
    x0 = jax.random.normal(kx, (6, 3, 2))
    eps = jax.random.normal(ke, (6, 3, 2))
    pi = np.asarray(ot_assignment(x0, eps))
    np.testing.assert_array_equal(np.sort(pi), np.arange(6))  # no row lost or duplicated
    cost = np.asarray(pairing_cost(x0, eps), np.float64)
    np.testing.assert_allclose(cost, np.sum((np.asarray(x0)[:, None] - np.asarray(eps)[None])
                                            ** 2, axis=(2, 3)), rtol=1e-6)
    best = min(cost[np.arange(6), list(p)].sum() for p in itertools.permutations(range(6)))
    got = cost[np.arange(6), pi].sum()
    assert got <= np.trace(cost) + 1e-6
    np.testing.assert_allclose(got, best, rtol=1e-6)  # float32 costs: rounding only


def test_couple_permutes_the_same_draws_and_knn_picks_the_nearest():
    x0 = jax.random.normal(jax.random.PRNGKey(1), (32, 4)) * 2.0 + 1.0
    key = jax.random.PRNGKey(2)
    ind = couple("independent", x0, key)
    ot = couple("ot", x0, key)
    # the OT coupling uses exactly the independent draws, reordered (marginals kept)
    order = np.lexsort(np.asarray(ind).T)
    np.testing.assert_array_equal(np.asarray(ot)[np.lexsort(np.asarray(ot).T)],
                                  np.asarray(ind)[order])
    assert jnp.sum((x0 - ot) ** 2) <= jnp.sum((x0 - ind) ** 2)
    cands = jax.random.normal(key, (5, 32, 4))
    eps, idx = knn_noise(x0, cands)
    d = np.sum((np.asarray(cands) - np.asarray(x0)[None]) ** 2, axis=-1)
    np.testing.assert_array_equal(idx, np.argmin(d, axis=0))
    np.testing.assert_array_equal(eps, np.asarray(cands)[np.asarray(idx), np.arange(32)])
    np.testing.assert_array_equal(couple("knn", x0, key, k=5), eps)
    with pytest.raises(ValueError, match=r"unknown coupling 'sinkhorn'; valid choices: "
                                         r"\['independent', 'ot', 'knn'\]"):
        couple("sinkhorn", x0, key)


def test_minibatch_ot_plan_tends_to_the_gaussian_ot_map(x64):
    """Pairs (X_i, Y_pi(i)) of the exact minibatch plan between N(M0, S0) and N(M1, S1)
    samples approach the OT map T(x) = M1 + A (x - M0) as the batch grows: the mean
    ||Y_pi(i) - T(X_i)||^2 over 8 batches, relative to that of the identity pairing,
    measured 0.22 / 0.085 / 0.051 at B = 16 / 64 / 128."""
    a = ot_matrix(S0, S1)
    np.testing.assert_allclose(a, a.T, atol=1e-14)
    np.testing.assert_allclose(a @ S0 @ a, S1, atol=1e-13)  # T pushes N(M0,S0) to N(M1,S1)
    rel = []
    for b in (16, 64, 128):
        kx, ky = jax.random.split(jax.random.PRNGKey(b))
        x = M0 + jax.random.normal(kx, (8, b, 2)) @ np.linalg.cholesky(S0).T
        y = M1 + jax.random.normal(ky, (8, b, 2)) @ np.linalg.cholesky(S1).T
        pi = jax.vmap(ot_assignment)(x, y)
        np.testing.assert_array_equal(np.sort(pi, axis=-1), np.broadcast_to(np.arange(b), pi.shape))
        t_x = M1 + (x - M0) @ a.T
        err = jnp.mean(jnp.sum((jnp.take_along_axis(y, pi[..., None], axis=1) - t_x) ** 2, -1))
        rel.append(float(err / jnp.mean(jnp.sum((y - t_x) ** 2, -1))))
    assert rel[0] > rel[1] > rel[2], rel
    assert rel[2] < 0.08, rel


def test_ot_cfm_one_step_map_recovers_the_ot_map():
    """OT-CFM (B = 32, 800 steps) on N(0, I) -> N(M1, S1): one Euler step from noise lands
    on T(z) = M1 + S1^{1/2} z (A for S0 = I) with mean squared error 0.005 measured,
    against tr(S1) = 1.3 for the independent coupling, whose one-step map is E[x0] = M1."""
    process = RectifiedFlow()
    obj = objectives.get_objective("ot_cfm", process)
    chol = jnp.asarray(np.linalg.cholesky(S1), jnp.float32)
    sample = lambda k: {"x": jnp.asarray(M1, jnp.float32) + jax.random.normal(k, (32, 2)) @ chol.T}
    net, params = make_net(hidden=64, depth=2)
    params, losses = fit(obj, net, params, obj.init(params), sample, steps=800)
    assert float(losses[-50:].mean()) < 0.5 * float(losses[:50].mean())
    z = jax.random.normal(jax.random.PRNGKey(9), (512, 2))
    x = euler(obj.model_fn(lambda x, c: net(params, x, c)), process, z,
              jnp.array([process.t_max, process.t_min]), prediction="velocity").x
    err = float(jnp.mean(jnp.sum((x - (M1 + z @ sqrtm(S1).T)) ** 2, -1)))
    assert err < 0.03 * np.trace(S1), err


def test_immiscible_loss_pairs_closer_and_keeps_the_regression():
    """The coupled loss with the independent coupling is the plain denoising loss
    (same draws, same operations), and its OT coupling lowers the pairing cost."""
    p = VPLinear()
    x = jax.random.normal(jax.random.PRNGKey(3), (64, 2)) * 3.0
    model = lambda x, t: 0.1 * x
    key = jax.random.PRNGKey(4)
    costs = {c: float(coupled_loss(p, kind="eps", coupling=c)(model, {"x": x}, key)[1]
                      ["pairing_cost"]) for c in ("independent", "knn", "ot")}
    assert costs["ot"] < costs["independent"] and costs["knn"] < costs["independent"], costs
    from diffax.losses import denoising_loss
    got = coupled_loss(p, kind="eps", coupling="independent")(model, {"x": x}, key)[0]
    want = denoising_loss(p, kind="eps")(model, {"x": x}, key)[0]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    obj = objectives.get_objective("immiscible", p, coupling="knn", k=8, parameterization="eps")
    assert obj.kind == "eps"
    with pytest.raises(ValueError, match=r"coupled_loss: unknown coupling 'OT'"):
        objectives.get_objective("immiscible", p, coupling="OT")


def test_couplings_in_a_data_parallel_train_step():
    """OT-CFM as a batch transform feeding reflow's batch mode, through the unchanged
    train step on a batch sharded over 8 devices: the assignment runs on the global batch,
    so two sharded steps equal two unsharded ones (float32 rounding of the all-reduce)."""
    import optax
    from flax import nnx

    from diffax import training as tr
    from diffax.nn import MLP
    from diffax.objectives.couplings import coupling_transform
    from diffax.objectives.reflow import reflow_objective

    p = RectifiedFlow()
    mesh = tr.make_mesh()
    batch = {"x": jax.random.normal(jax.random.PRNGKey(5), (32, 2)) + 3.0}
    tx = optax.adam(1e-2)
    for obj, transform in [(reflow_objective(p), coupling_transform("ot"))]:
        graphdef, state = tr.create_train_state(MLP(2, hidden=16, depth=1, rngs=nnx.Rngs(0)),
                                                tx, seed=0, objective=obj)
        step = tr.make_train_step(graphdef, obj, tx, batch_transform=transform)
        sharded, plain = tr.jit_train_step(step, mesh), jax.jit(step)
        s_pl = jax.tree.map(jnp.copy, state)  # the sharded step donates its state
        s_sh = tr.replicate(state, mesh)
        b_sh = tr.shard_batch(batch, mesh)
        for _ in range(2):
            s_sh, m_sh = sharded(s_sh, b_sh)
            s_pl, m_pl = plain(s_pl, batch)
            np.testing.assert_allclose(m_sh["loss"], m_pl["loss"], rtol=1e-5)
        for a, b in zip(jax.tree.leaves(s_sh.params), jax.tree.leaves(s_pl.params)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # the transform's noise is the OT permutation of the same draws
    got = coupling_transform("ot")(batch, jax.random.PRNGKey(6))["noise"]
    np.testing.assert_array_equal(got, couple("ot", batch["x"], jax.random.PRNGKey(6)))
