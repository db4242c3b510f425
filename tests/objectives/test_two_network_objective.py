"""Proof that the objective layer fits what comes next (issue 16): a two-network objective
(a frozen teacher and an EMA target of the student, as in distillation and consistency
training) trains through the unchanged train step, and its auxiliary state is
checkpointed with the run."""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from diffax import training as tr


class Linear(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.l = nnx.Linear(2, 2, rngs=rngs)

    def __call__(self, x, c, dropout_key=None):
        return self.l(x)


@dataclasses.dataclass(frozen=True)
class DistillWithEMATarget:
    """Student matches a frozen teacher, pulled towards its own EMA target."""

    teacher: Any
    decay: float = 0.9

    def init(self, params):
        return {"teacher": self.teacher, "target": params}

    def loss(self, net, params, aux, batch, key):
        x, c = batch["x"], jnp.zeros(batch["x"].shape[:1])
        teacher = jax.lax.stop_gradient(net(aux["teacher"], x, c))
        target = jax.lax.stop_gradient(net(aux["target"], x, c))
        student = net(params, x, c)
        loss = jnp.mean((student - teacher) ** 2) + 0.1 * jnp.mean((student - target) ** 2)
        return loss, {}

    def update(self, aux, params, step):
        ema = jax.tree.map(lambda t, p: self.decay * t + (1 - self.decay) * p,
                           aux["target"], params)
        return {**aux, "target": ema}


def test_teacher_and_ema_target_through_the_generic_step(tmp_path):
    _, teacher = nnx.split(Linear(nnx.Rngs(1)), nnx.Param)
    objective = DistillWithEMATarget(teacher)
    tx = optax.adam(3e-2)
    graphdef, state = tr.create_train_state(Linear(nnx.Rngs(0)), tx, seed=0, objective=objective)
    step = jax.jit(tr.make_train_step(graphdef, objective, tx))
    x = jax.random.normal(jax.random.PRNGKey(2), (128, 2))
    losses, ema = [], jax.tree.map(np.asarray, state.params)
    for _ in range(150):
        state, metrics = step(state, {"x": x})
        losses.append(float(metrics["loss"]))
        ema = jax.tree.map(lambda t, p: 0.9 * t + 0.1 * np.asarray(p), ema, state.params)
    assert losses[-1] < 1e-3 * losses[0]  # the student has distilled the teacher
    for got, want in zip(jax.tree.leaves(state.aux["teacher"]), jax.tree.leaves(teacher)):
        np.testing.assert_array_equal(got, want)  # frozen: never updated
    for got, want in zip(jax.tree.leaves(state.aux["target"]), jax.tree.leaves(ema)):
        # the host recurrence repeats the step's float32 arithmetic: equal to rounding
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)

    with tr.Checkpointer(str(tmp_path), save_every=1, async_save=False) as ckpt:
        ckpt.save(state, step=int(state.step))
        _, fresh = tr.create_train_state(Linear(nnx.Rngs(5)), tx, seed=0, objective=objective)
        restored = ckpt.restore(fresh)
    for got, want in zip(jax.tree.leaves(restored.aux), jax.tree.leaves(state.aux)):
        np.testing.assert_array_equal(got, want)
