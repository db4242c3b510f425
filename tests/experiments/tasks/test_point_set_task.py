"""Draft task 2 of 3 (issue 16): point sets (B, N, 3) with a permutation-equivariant
denoiser (DeepSets: per-point MLP + mean pooling); no runner change."""

import jax.numpy as jnp
import numpy as np
from draft_support import ArrayDataset, register_for_test, tiny_config
from flax import nnx

from diffax import training
from diffax.nn import NETWORKS
from experiments import runner
from experiments.tasks import TASKS, ElementSpec, Task

N = 32


class DeepSets(nnx.Module):
    def __init__(self, num_classes=None, *, rngs):
        self.point = nnx.Linear(4, 32, rngs=rngs)
        self.out = nnx.Linear(64, 3, rngs=rngs)

    def __call__(self, x, c, *, dropout_key=None):
        t = jnp.broadcast_to(c[:, None, None], x.shape[:2] + (1,))
        h = nnx.silu(self.point(jnp.concatenate([x, t], -1)))
        pooled = jnp.broadcast_to(h.mean(1, keepdims=True), h.shape)
        return self.out(jnp.concatenate([h, pooled], -1))


class PointSetTask(Task):
    name = "draft_point_set"

    def dataset(self, config, split):
        rng = np.random.default_rng(0 if split == "train" else 1)
        p = rng.normal(size=(128, N, 3))
        return ArrayDataset(self.name, split, {
            "x": (p / np.linalg.norm(p, axis=-1, keepdims=True)).astype(np.float32)})

    def spec(self, config, dataset, example):
        return ElementSpec({"x": (N, 3)}, {"x": "float32"})

    def network_kwargs(self, config, spec):
        return {}


def test_point_sets_train_sample_and_stay_equivariant(tmp_path, request):
    register_for_test(request, TASKS, PointSetTask.name, PointSetTask)
    register_for_test(request, NETWORKS, "draft_deepsets", DeepSets)
    config = tiny_config(PointSetTask.name, "draft_deepsets")
    runner.train(config, str(tmp_path))
    x = runner.sample(config, str(tmp_path))
    assert x.shape == (8, N, 3) and np.all(np.isfinite(x))
    exp, graphdef, state = runner.restore(config, str(tmp_path))
    apply = training.network_apply(graphdef)
    perm = np.random.default_rng(0).permutation(N)
    t = jnp.full((8,), 0.5)
    out = apply(state.params, state.buffers, jnp.asarray(x), t)
    out_perm = apply(state.params, state.buffers, jnp.asarray(x[:, perm]), t)
    # the same arithmetic up to the order of the pooled sum: float32 rounding only
    np.testing.assert_allclose(out_perm, out[:, perm], rtol=1e-5, atol=1e-6)
