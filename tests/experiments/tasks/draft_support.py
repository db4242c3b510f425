"""Shared by the task drafts (issue 16's proof of fit): an in-memory dataset and a tiny
config that runs any task through the unchanged runner in seconds."""

import contextlib

import numpy as np

from configs import defaults


class ArrayDataset:
    """The diffax.data Dataset protocol over a dict of arrays (key "x" is the data)."""

    is_image, num_classes = False, None

    def __init__(self, name: str, split: str, arrays: dict):
        self.name, self.split, self.arrays = name, split, arrays

    @property
    def num_examples(self) -> int:
        return len(self.arrays["x"])

    @property
    def shape(self) -> tuple:
        return self.arrays["x"].shape[1:]

    @property
    def element_spec(self) -> dict:
        return {k: (v.shape[1:], v.dtype) for k, v in self.arrays.items()}

    def get(self, indices: np.ndarray) -> dict:
        return {k: v[indices] for k, v in self.arrays.items()}


def register_for_test(request, registry, name: str, obj) -> None:
    """Register ``obj`` as ``name`` for one test (``Registry.temporary``, closed by the
    test's finalizer), so tests that check the library's tables (test_nn_registry.py,
    test_config_checks.py) see them unchanged whichever worker ran this test first."""
    scope = contextlib.ExitStack()
    scope.enter_context(registry.temporary(name, obj))
    request.addfinalizer(scope.close)


def tiny_config(task: str, network: str):
    c = defaults.get_config()
    c.task.name, c.data.name, c.model.name = task, task, network
    c.process.name, c.model.parameterization, c.model.time_input = "vp_linear", "eps", "t"
    c.loss.name, c.loss.kwargs = "dsm", {}
    c.data.batch_size = 32
    t = c.training
    t.n_steps, t.log_every, t.ckpt_every, t.sample_every, t.progress = 6, 3, 6, 0, False
    s = c.sampling
    s.sampler, s.schedule, s.nfe, s.num_samples, s.grid_size = "ddim", "uniform_log_snr", 4, 8, 8
    return c
