"""The training options training.profile_steps (a jax.profiler trace of steps N..N+k-1 under
workdir/profile/) and training.grad_accum_steps, through the runner, and their validation."""

import gzip
import json
import os

import pytest

from configs.toy import gmm2d
from diffax import training as tr
from experiments import runner
from experiments.config_checks import validate_config


def tiny(n_steps=6, **training):
    c = gmm2d.get_config()
    c.training.n_steps = n_steps
    c.training.log_every = 3
    c.training.ckpt_every = 100
    c.training.sample_every = 0
    c.training.progress = False
    c.data.batch_size = 64
    for key, value in training.items():
        c.training[key] = value
    return c


def train_step_events(trace_dir: str) -> int:
    """Host-side launches of the jitted train step in the trace (XLA:CPU names the event
    ``CommonPjRtLoadedExecutable::Execute (jit_step)``; one per step, the per-device
    ``[i] ...`` events aside)."""
    (path,) = [os.path.join(r, f) for r, _, fs in os.walk(trace_dir) for f in fs
               if f.endswith(".trace.json.gz")]
    events = json.load(gzip.open(path))["traceEvents"]
    names = [e.get("name", "") for e in events if e.get("ph") == "X"]
    return names.count("CommonPjRtLoadedExecutable::Execute (jit_step)")


def test_tiny_run_writes_a_trace_of_the_requested_steps(tmp_path):
    workdir = str(tmp_path)
    state = runner.train(tiny(profile_steps=(2, 3), grad_accum_steps=2), workdir)
    assert int(state.step) == 6
    files = [os.path.join(r, f) for r, _, fs in os.walk(os.path.join(workdir, "profile"))
             for f in fs]
    assert any(f.endswith(".xplane.pb") and os.path.getsize(f) > 0 for f in files), files
    assert train_step_events(os.path.join(workdir, "profile")) == 3


def test_no_trace_by_default(tmp_path):
    runner.train(tiny(n_steps=2), str(tmp_path))
    assert not os.path.exists(os.path.join(str(tmp_path), "profile"))


@pytest.mark.parametrize("bad", [(5,), (2, 0), (-1, 2), (4, 3), ("2", 1), (1, 2, 3)])
def test_bad_profile_steps_are_rejected(bad):
    with pytest.raises(ValueError, match=r"training\.profile_steps.*n_steps=6"):
        validate_config(tiny(profile_steps=bad))
    with pytest.raises(ValueError, match=r"profile_steps.*<= 6"):
        tr.fit(None, None, None, mesh=None, num_steps=6, profile_steps=bad, profile_dir="x")


@pytest.mark.parametrize("bad", [0, -1])  # ConfigDict already refuses floats
def test_bad_grad_accum_steps_are_rejected(bad):
    with pytest.raises(ValueError, match=r"training\.grad_accum_steps.*integer >= 1"):
        validate_config(tiny(grad_accum_steps=bad))


def test_batch_must_split_into_micro_batches_on_every_device(tmp_path):
    with pytest.raises(ValueError, match=r"grad_accum_steps=5.*batch_size=64"):
        validate_config(tiny(grad_accum_steps=5))
    # 64 = 16 x 4 splits into 16 micro-batches, but not 16 x 8 devices
    with pytest.raises(ValueError, match=r"data\.batch_size.*128.*grad_accum_steps=16 x 8"):
        runner.train(tiny(grad_accum_steps=16), str(tmp_path))
