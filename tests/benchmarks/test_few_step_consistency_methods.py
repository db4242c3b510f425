"""benchmarks.few_step end to end at the micro scale of test_few_step_methods.py for the
consistency-model methods SCott, Hyper-SD and iCT: one shared teacher, every run trained
through the runner, FD-FMNIST finite where each method is scored (Hyper-SD: each stage
at its own NFE with the segmented consistency sampler), step counts the sums of the
chains. The Hyper-SD chain runs two stages (s = 2, 1) instead of four (the same code path,
half the compilations): the first stage starts from the teacher's EMA parameters, the
second from the first's, and both keep the diffusion teacher as their teacher.

The micro scale (one optimizer step per run, a 2.8k-parameter U-Net, 16 samples) checks
the plumbing only; its FD values mean nothing."""

import json
import math
import os

import jax
import numpy as np
import pytest
from flax import nnx

from benchmarks import few_step, few_step_methods
from diffax.processes import EDM
from experiments import runner
from experiments.objective_setup import build_objective, load_run_config, restore_teacher
from test_few_step_methods import MICRO

NEW = ("scott", "hyper_sd", "ict")
SEGMENTS = (2, 1)


def _leaves(tree):
    return [np.asarray(a) for a in jax.tree.leaves(jax.device_get(tree))]


def _starting_params(config):
    """The student's parameters as ``runner.build`` leaves them before training."""
    return nnx.split(runner.build(config).network, nnx.Param, ...)[1]


@pytest.mark.slow
def test_consistency_methods_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setitem(few_step.SCALES, "micro", MICRO)
    monkeypatch.setattr(few_step_methods, "HYPER_SD_SEGMENTS", SEGMENTS)
    out = str(tmp_path)
    result = few_step.main(["--out", out, "--scale", "micro", "--methods", ",".join(NEW)])
    records = {r["method"]: r for r in result["methods"]}
    assert tuple(records) == NEW                      # in the order of METHODS
    runs = os.path.join(out, "runs")
    expected = {"scott": ("consistency", "karras", 1, ["scott"], ["1"]),
                "hyper_sd": ("segmented_consistency", "karras", 2,
                             [f"hyper_sd_{s}" for s in SEGMENTS], ["2", "1"]),
                "ict": ("consistency", "karras", 1, ["ict"], ["1"])}
    for m, (sampler, schedule, steps, workdirs, nfes) in expected.items():
        r = records[m]
        assert (r["sampler"], r["schedule"], r["train_steps"]) == (sampler, schedule, steps)
        assert r["workdirs"] == [os.path.join(runs, w) for w in workdirs]
        assert sorted(r["fd"]) == sorted(nfes)
        assert all(math.isfinite(v) and v > 0 for v in r["fd"].values())
        for n in nfes:
            assert os.path.exists(os.path.join(out, "grids", f"{m}_nfe{n}.png"))
        for w in workdirs:
            summary = json.load(open(os.path.join(runs, w, "train_summary.json")))
            assert summary["steps"] == 1
    assert records["hyper_sd"]["note"] == few_step_methods.NOTES["hyper_sd"]

    # Hyper-SD's chain: stage 2 starts as the teacher, stage 1 as stage 2's student (EMA
    # parameters), and both distil the teacher itself (aux["teacher"] of the trained runs)
    teacher = restore_teacher(os.path.join(runs, "teacher"))
    stage2 = restore_teacher(os.path.join(runs, "hyper_sd_2"))
    (_, c2), (_, c1) = few_step.method_configs("hyper_sd", MICRO, 1, 1, out,
                                                os.path.join(runs, "teacher"))
    assert c1.objective.init_workdir == os.path.join(runs, "hyper_sd_2")
    for config, source in ((c2, teacher), (c1, stage2)):
        start = _leaves(_starting_params(config))
        for a, b in zip(start, _leaves(source.params), strict=True):
            np.testing.assert_array_equal(a, b)
    # the two sources differ (one step of training moved stage 2 away from the teacher)
    assert any(not np.array_equal(a, b) for a, b in
               zip(_leaves(stage2.params), _leaves(teacher.params)))
    for s in SEGMENTS:
        workdir = os.path.join(runs, f"hyper_sd_{s}")
        _, _, state = runner.restore(load_run_config(workdir), workdir)
        for a, b in zip(_leaves(state.aux["teacher"]), _leaves(teacher.params), strict=True):
            np.testing.assert_array_equal(a, b)


def test_init_workdir_excludes_init_from_teacher():
    c = runner.load_config("configs/image/fashion_mnist_hyper_sd.py")
    c.objective.teacher_workdir = "teacher_run"
    c.objective.init_workdir = "stage_8_run"     # init_from_teacher stays True
    with pytest.raises(ValueError, match=r"objective.init_workdir='stage_8_run' and "
                                         r"objective.init_from_teacher=True both set"):
        build_objective(c, EDM(), None)
