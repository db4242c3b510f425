"""Resuming through the real runner (experiments.runner.train) equals an uninterrupted run:
the same metrics.jsonl losses and the same final parameters, optimizer state and EMA.

Two ways a run is continued:
- extended: train with n_steps=k, then call again with n_steps=n. The learning-rate
  schedule is built from n_steps, so this equals an n-step run only for a schedule that
  does not depend on n_steps ("constant" after warm-up); with "cosine" the first k steps
  decayed over k (checked as a negative control).
- preempted: an n-step run stopped after its checkpoint at k (later checkpoints lost,
  metrics.jsonl holding records past k) and restarted with the same config.
Both run the same compiled train step on the same step-indexed batches, so the results
are bitwise equal on CPU (asserted with zero tolerance)."""

import json
import os
import shutil

import jax
import numpy as np
import pytest

from configs.toy import gmm2d
from experiments import runner

K, N = 8, 16


def config(n_steps, schedule="constant"):
    c = gmm2d.get_config()
    c.model.kwargs = dict(hidden=32, depth=2, time_scale=1000.0)
    c.data.batch_size = 64
    c.optim.schedule = schedule
    c.optim.warmup_steps = 4
    c.training.n_steps = n_steps
    c.training.log_every = 2
    c.training.ckpt_every = K
    c.training.keep_checkpoints = 5
    c.training.sample_every = 0
    c.training.progress = False
    return c


def losses(workdir):
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        return [(r["step"], r["loss"]) for r in map(json.loads, f)]


def leaves(state):
    """Every array of the train state (params, optimizer state, EMAs, step, counters)."""
    return [np.asarray(x) for x in jax.tree.leaves(jax.device_get(state))]


def assert_same_state(a, b):
    la, lb = leaves(a), leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb):
        np.testing.assert_array_equal(x, y)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("full"))
    return workdir, runner.train(config(N), workdir)


def test_extended_run_equals_uninterrupted(uninterrupted, tmp_path):
    full_dir, full = uninterrupted
    workdir = str(tmp_path)
    first = runner.train(config(K), workdir)
    assert int(first.step) == K
    resumed = runner.train(config(N), workdir)
    assert int(resumed.step) == N
    assert json.load(open(os.path.join(workdir, "train_summary.json")))["resumed_from"] == K
    assert [s for s, _ in losses(workdir)] == list(range(2, N + 1, 2))
    assert losses(workdir) == losses(full_dir)  # float equality of every logged loss
    assert_same_state(resumed, full)
    # the parameters moved between K and N (the comparison is not of two initial states)
    assert max(np.max(np.abs(x - y)) for x, y in zip(leaves(first.params),
                                                      leaves(full.params))) > 1e-4


def test_preempted_run_equals_uninterrupted(uninterrupted, tmp_path):
    full_dir, full = uninterrupted
    workdir = str(tmp_path / "run")
    shutil.copytree(full_dir, workdir)
    shutil.rmtree(os.path.join(workdir, "checkpoints", str(N)))  # lost with the preemption
    os.remove(os.path.join(workdir, "train_summary.json"))
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == [str(K)]
    resumed = runner.train(config(N), workdir)
    # the records past K written before the preemption were replaced, not duplicated
    assert losses(workdir) == losses(full_dir)
    assert_same_state(resumed, full)


def test_cosine_schedule_is_not_extendable(tmp_path):
    """Negative control: with a schedule over n_steps, stopping at n_steps=K and extending
    to N trains K steps at a different learning rate, so the runs differ."""
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    runner.train(config(K, "cosine"), a)
    ext = runner.train(config(N, "cosine"), a)
    full = runner.train(config(N, "cosine"), b)
    assert losses(a)[:2] == losses(b)[:2]  # warm-up (steps 1-4) does not depend on n_steps
    assert losses(a) != losses(b)
    assert max(np.max(np.abs(x - y)) for x, y in zip(leaves(ext.params),
                                                      leaves(full.params))) > 1e-6
