"""Gradient accumulation in the train step: k micro-batches of b rows give the update of one
batch of k*b rows; micro-batch j uses fold_in(key, j) of the step's keys."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from toy_task import TinyNet, batch_fn

from diffax import training as tr
from diffax.training.step import split_micro_batches

K, B = 4, 64          # 4 micro-batches of 16 rows
LR = 0.1


class DetNet(TinyNet):
    """TinyNet without dropout: the step is then a deterministic function of the batch."""

    def __call__(self, x, c, label=None, *, dropout_key=None):
        return super().__call__(x, c, label, dropout_key=None)


def regression_loss(model_fn, batch, key):
    """Deterministic: ignores the key (fixed targets), a mean over the rows."""
    x = batch["x"]
    pred = model_fn(x, jnp.full(x.shape[:1], 0.5))
    loss = jnp.mean((pred - jnp.sin(x)) ** 2)
    return loss, {}


def noisy_loss(model_fn, batch, key):
    """Uses the loss key: target noise drawn per row from ``key``."""
    x = batch["x"]
    noise = jax.random.normal(key, x.shape)
    loss = jnp.mean((model_fn(x, jnp.full(x.shape[:1], 0.5)) - noise) ** 2)
    return loss, {}


def setup(loss_fn, k, mesh, batch_transform=None, net=TinyNet):
    tx = optax.sgd(LR)
    graphdef, state = tr.create_train_state(net(nnx.Rngs(0)), tx, seed=3)
    step = tr.make_train_step(graphdef, tr.FunctionObjective(loss_fn), tx, grad_accum_steps=k,
                              batch_transform=batch_transform)
    return tr.jit_train_step(step, mesh), tr.replicate(state, mesh), graphdef


def by_hand(loss_fn, graphdef, state, batch, keys_of_micro):
    """Mean loss and mean gradient over the strided micro-batches, one at a time."""
    apply = tr.network_apply(graphdef)
    losses, grads = [], []
    for j in range(K):
        mb = {n: v[j::K] for n, v in batch.items()}
        k_loss, k_dropout = keys_of_micro(j)

        def f(p):
            model = lambda x, c: apply(p, state.buffers, x, c, dropout_key=k_dropout)
            return loss_fn(model, mb, k_loss)[0]

        value, g = jax.value_and_grad(f)(state.params)
        losses.append(value)
        grads.append(g)
    mean_grad = jax.tree.map(lambda *g: sum(g) / K, *grads)
    return sum(losses) / K, mean_grad


def leaves(tree):
    return [np.asarray(a) for a in jax.tree.leaves(jax.device_get(tree))]


def step_keys(state):
    return jax.random.split(jax.random.fold_in(state.rng, state.step), 3)


def test_accumulated_step_equals_one_big_batch_and_the_hand_mean():
    mesh = tr.make_mesh()
    batch = batch_fn(B)(0)
    big_step, s_big, graphdef = setup(regression_loss, 1, mesh, net=DetNet)
    acc_step, s_acc, _ = setup(regression_loss, K, mesh, net=DetNet)
    host = jax.device_get(s_acc)
    new_big, m_big = big_step(s_big, tr.shard_batch(batch, mesh))
    new_acc, m_acc = acc_step(s_acc, tr.shard_batch(batch, mesh))
    loss, grads = by_hand(regression_loss, graphdef, host, batch, lambda j: (None, None))
    expect = optax.apply_updates(host.params, jax.tree.map(lambda g: -LR * g, grads))
    # The same sums in another order. float32 rounding of a mean of K terms is bounded by
    # about K u max|g| (u = 2^-24, K = 4: ~2.4e-7 relative), and the mean over 64 rows in
    # one reduction against 4 x 16 rows differs by the same order; the update is LR * g
    # added to O(1) weights, so parameters agree to ~1e-7 absolute.
    for got, want, big in zip(leaves(new_acc.params), leaves(expect), leaves(new_big.params)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(got, big, rtol=1e-6, atol=1e-7)
    for m in (m_acc, m_big):
        np.testing.assert_allclose(float(m["loss"]), float(loss), rtol=1e-6)
        np.testing.assert_allclose(float(m["grad_norm"]), float(optax.tree.norm(grads)),
                                   rtol=1e-6)
    # the step did move the parameters (the comparison is not of two unchanged states)
    moved = max(float(np.abs(a - b).max()) for a, b in zip(leaves(new_acc.params),
                                                            leaves(host.params)))
    assert moved > 1e-3, moved
    assert int(new_acc.step) == int(new_big.step) == 1


def test_loss_key_and_batch_transform_key_are_folded_per_micro_batch():
    mesh = tr.make_mesh()
    batch = batch_fn(B)(1)

    def transform(b, key):  # a key-dependent shift of the whole (micro-)batch
        return {"x": b["x"] + jax.random.normal(key, ())}

    step, state, graphdef = setup(noisy_loss, K, mesh, batch_transform=transform)
    host = jax.device_get(state)  # before the step: the state is donated
    new, metrics = step(state, tr.shard_batch(batch, mesh))
    k_loss, k_dropout, k_batch = step_keys(host)
    shifted = {"x": np.array(batch["x"])}
    for j in range(K):
        shifted["x"][j::K] = batch["x"][j::K] + float(
            jax.random.normal(jax.random.fold_in(k_batch, j), ()))
    loss, grads = by_hand(noisy_loss, graphdef, host, shifted,
                          lambda j: (jax.random.fold_in(k_loss, j),
                                     jax.random.fold_in(k_dropout, j)))
    np.testing.assert_allclose(float(metrics["loss"]), float(loss), rtol=1e-6)
    expect = optax.apply_updates(host.params, jax.tree.map(lambda g: -LR * g, grads))
    for got, want in zip(leaves(new.params), leaves(expect)):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


def test_same_on_one_and_eight_devices():
    batch = batch_fn(B)(2)
    out = []
    for mesh in (tr.make_mesh(jax.devices()[:1]), tr.make_mesh()):
        step, state, _ = setup(noisy_loss, K, mesh)
        for s in range(3):
            state, metrics = step(state, tr.shard_batch(batch_fn(B)(s), mesh))
        out.append(leaves(state.params))
    for a, b in zip(*out):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert batch["x"].shape[0] == B


def test_bad_values_are_rejected():
    tx = optax.sgd(LR)
    graphdef, _ = tr.create_train_state(TinyNet(nnx.Rngs(0)), tx, seed=0)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="grad_accum_steps"):
            tr.make_train_step(graphdef, tr.FunctionObjective(regression_loss), tx,
                               grad_accum_steps=bad)
    with pytest.raises(ValueError, match=r"12 rows.*grad_accum_steps=5"):
        split_micro_batches({"x": jnp.zeros((12, 2))}, 5)
    mb = split_micro_batches({"x": jnp.arange(12.0)}, 3)["x"]
    np.testing.assert_array_equal(np.asarray(mb), np.arange(12.0).reshape(4, 3).T)
