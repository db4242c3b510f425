"""Draft task 1 of 3 (issue 16): sequences with an observed mask as conditioning. The
mask reaches the network as a keyword, in training and in sampling; no runner change."""

import jax.numpy as jnp
import numpy as np
from draft_support import ArrayDataset, register_for_test, tiny_config
from flax import nnx

from diffax.nn import NETWORKS
from experiments import runner
from experiments.tasks import TASKS, ElementSpec, Task

L, C = 16, 2


class SeqNet(nnx.Module):
    def __init__(self, length, channels, num_classes=None, *, rngs):
        self.seen = []  # which keyword arguments reached the network (trace time)
        self.fc = nnx.Linear(length * (channels + 2), length * channels, rngs=rngs)

    def __call__(self, x, c, observed=None, *, dropout_key=None):
        self.seen.append(observed is not None)
        t = jnp.broadcast_to(c[:, None, None], x.shape[:2] + (1,))
        h = jnp.concatenate([x * observed, observed, t], -1).reshape(len(x), -1)
        return self.fc(h).reshape(x.shape)


class MaskedSequenceTask(Task):
    name = "draft_masked_sequence"

    def dataset(self, config, split):
        rng = np.random.default_rng(0 if split == "train" else 1)
        phase = rng.uniform(0, 2 * np.pi, (256, 1, C))
        x = np.sin(np.linspace(0, 2 * np.pi, L)[None, :, None] + phase).astype(np.float32)
        observed = (rng.uniform(size=(256, L, 1)) < 0.5).astype(np.float32)
        return ArrayDataset(self.name, split, {"x": x, "observed": observed})

    def spec(self, config, dataset, example):
        return ElementSpec({"x": (L, C), "observed": (L, 1)},
                           {"x": "float32", "observed": "float32"},
                           condition=("observed",), masks=("observed",))

    def network_kwargs(self, config, spec):
        return {"length": L, "channels": C}

    def sample_condition(self, spec, num_samples, labels=None):
        return {"observed": np.ones((num_samples, L, 1), np.float32)}


def test_masked_sequences_train_and_sample(tmp_path, request):
    register_for_test(request, TASKS, MaskedSequenceTask.name, MaskedSequenceTask)
    register_for_test(request, NETWORKS, "draft_seqnet", SeqNet)
    config = tiny_config(MaskedSequenceTask.name, "draft_seqnet")
    exp = runner.build(config)
    assert sorted(exp.batch(0)) == ["observed", "x"]
    runner.train(config, str(tmp_path))
    x = runner.sample(config, str(tmp_path))
    assert x.shape == (8, L, C) and np.all(np.isfinite(x))
