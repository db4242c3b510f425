"""The runner-facing pieces of diffax.neural_sde: the ``stable_neural_sde`` network (the
model behind diffax.nn's calling convention) and the ``neural_sde`` objective."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from diffax import nn, objectives
from diffax.neural_sde import StableNeuralSDE, masked_mse
from diffax.neural_sde.network import NeuralSDENetwork

OPTIONS = dict(hidden=4, width=8, steps=4)


def batch(b=8, length=6, k=2, seed=0):
    rng = np.random.default_rng(seed)
    mask = (rng.uniform(size=(b, length, k)) < 0.7).astype(np.float32)
    x = rng.normal(size=(b, length, k)).astype(np.float32) * mask
    time = np.broadcast_to(np.arange(length, dtype=np.float32), (b, length))
    return {"x": x, "observed_mask": mask, "time": time,
            "label": rng.integers(0, 3, b).astype(np.int32),
            "target_mask": 1.0 - mask, "target": rng.normal(size=(b, length, k))}


@pytest.mark.parametrize("kind, readout, out_dim", [("lsde", "final", 3),
                                                    ("gsde", "sequence", 2)])
def test_network_is_the_model_with_the_same_init(kind, readout, out_dim):
    net = nn.get_network("stable_neural_sde", kind=kind, num_features=2, out_dim=out_dim,
                         readout=readout, **OPTIONS, rngs=nnx.Rngs(3))
    model = StableNeuralSDE(kind, 2, out_dim, readout=readout, **OPTIONS, rngs=nnx.Rngs(3))
    p_net, p_model = nnx.state(net.sde, nnx.Param), nnx.state(model, nnx.Param)
    for a, b in zip(jax.tree.leaves(p_net), jax.tree.leaves(p_model), strict=True):
        np.testing.assert_array_equal(a, b)
    d, key = batch(), jax.random.key(5)
    got = net(d["x"], key, observed_mask=d["observed_mask"], time=d["time"],
              dropout_key=jax.random.key(9))
    want = model(d["x"], d["observed_mask"], d["time"], key=key)
    np.testing.assert_array_equal(got, want)
    path = net.readout_path(d["x"], key, observed_mask=d["observed_mask"], time=d["time"])
    assert path.shape == (OPTIONS["steps"] + 1, 8, out_dim)
    if readout == "final":  # the last grid point is the model's output
        np.testing.assert_allclose(path[-1], want, rtol=1e-6, atol=1e-6)


def test_objective_losses_are_cross_entropy_and_masked_mse():
    objective = objectives.get_objective("neural_sde", None)
    net = NeuralSDENetwork("lnsde", 2, 3, **OPTIONS, rngs=nnx.Rngs(0))
    seq = NeuralSDENetwork("lnsde", 2, 2, readout="sequence", **OPTIONS, rngs=nnx.Rngs(0))
    d, key = batch(), jax.random.key(1)

    def apply_of(module):
        g, p, rest = nnx.split(module, nnx.Param, ...)
        return p, lambda q, x, c, **kw: nnx.merge(g, q, rest)(x, c, **kw)

    p, apply = apply_of(net)
    cls = {k: d[k] for k in ("x", "observed_mask", "time", "label")}
    loss, metrics = objective.loss(apply, p, objective.init(p), cls, key)
    logits = net(d["x"], key, observed_mask=d["observed_mask"], time=d["time"])
    want = -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(8), d["label"]])
    np.testing.assert_allclose(loss, want, rtol=1e-6)
    assert metrics["accuracy"] == jnp.mean(jnp.argmax(logits, -1) == d["label"])
    np.testing.assert_allclose(
        loss, optax.softmax_cross_entropy_with_integer_labels(logits, d["label"]).mean(),
        rtol=1e-6)
    p, apply = apply_of(seq)
    loss, _ = objective.loss(apply, p, (), d, key)  # target_mask present: reconstruction
    pred = seq(d["x"], key, observed_mask=d["observed_mask"], time=d["time"])
    m = d["target_mask"]
    np.testing.assert_allclose(loss, np.sum(m * (pred - d["target"]) ** 2) / m.sum(),
                               rtol=1e-5)
    np.testing.assert_allclose(loss, masked_mse(pred, d["target"], m), rtol=1e-6)
    assert objective.update((), p, 0) == ()
    with pytest.raises(ValueError, match=r"'label' \(classification\) or 'target_mask'.*"
                                         r"\['observed_mask', 'time', 'x'\]"):
        objective.loss(apply, p, (), {k: d[k] for k in ("x", "observed_mask", "time")}, key)
