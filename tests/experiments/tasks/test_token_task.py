"""Draft task 3 of 3 (issue 16): integer tokens, mapped to model space (flattened one-hot
in [-1, 1], for the MLP) and back (argmax) by the task; no runner change."""

import jax.numpy as jnp
import numpy as np
from draft_support import ArrayDataset, register_for_test, tiny_config

from experiments import runner
from experiments.tasks import TASKS, ElementSpec, Task

LENGTH, VOCAB = 8, 4


class TokenTask(Task):
    name = "draft_tokens"

    def dataset(self, config, split):
        rng = np.random.default_rng(0 if split == "train" else 1)
        start = rng.integers(0, VOCAB, (256, 1))
        tokens = (start + np.arange(LENGTH)) % VOCAB  # counting sequences
        return ArrayDataset(self.name, split, {"x": tokens.astype(np.int32)})

    def to_model(self, batch):
        one_hot = 2.0 * np.eye(VOCAB, dtype=np.float32)[batch["x"]] - 1.0
        return {**batch, "x": one_hot.reshape(len(one_hot), LENGTH * VOCAB)}

    def from_model(self, samples):
        logits = samples.reshape(len(samples), LENGTH, VOCAB)
        return jnp.argmax(logits, axis=-1).astype(jnp.int32)

    def spec(self, config, dataset, example):
        assert example["x"].shape[1:] == (LENGTH * VOCAB,)  # the spec is in model space
        return ElementSpec({"x": (LENGTH * VOCAB,)}, {"x": "float32"})


def test_tokens_train_and_sample_back_to_integers(tmp_path, request):
    register_for_test(request, TASKS, TokenTask.name, TokenTask)
    config = tiny_config(TokenTask.name, "mlp")
    config.model.kwargs = {"hidden": 32, "depth": 1}
    assert runner.build(config).pipeline.batch(0)["x"].dtype == np.int32  # kept as stored
    runner.train(config, str(tmp_path))
    x = runner.sample(config, str(tmp_path))
    assert x.shape == (8, LENGTH) and x.dtype == np.int32
    assert x.min() >= 0 and x.max() < VOCAB
