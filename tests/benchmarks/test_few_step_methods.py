"""benchmarks.few_step end to end at a micro scale for the methods of
benchmarks.few_step_methods that build on earlier runs, in one call (one shared teacher,
trained and scored once):

* InstaFlow: a chain of two runs on two couplings (the shared reflow run, then the
  distillation of its own pairs);
* MMD-DDM: a baseline record (the teacher with the fine-tuned sampler) next to its own;
* Hyper-SD: a chain of stages, here two (s = 2, 1) instead of four (the same code path,
  half the compilations). The first stage starts from the teacher's EMA parameters, the
  second from the first's, both keep the diffusion teacher as their teacher, and each
  is scored at its own NFE with the segmented consistency sampler.

Checked: every chain trained through the runner to its step count, the records' step
counts equal to the sum of the chain's runs, FD-FMNIST finite where each method is
scored, grids and couplings written, and a second call that finds every record and
trains nothing. LCM, SCott, iCT and SlimFlow use the same plumbing (one run from the
teacher, or from scratch; a two-run chain on couplings); their configs and chains are
checked without training in test_few_step_cli.py (every compiled run costs ~10 s of CPU on
8 simulated devices; SCott and iCT were trained here until 2026-12-07, a one-run method
adds nothing the MMD-DDM run does not check).

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

NEW = ("instaflow", "mmd", "hyper_sd")   # in the order of METHODS
SEGMENTS = (2, 1)
MICRO = dict(teacher_steps=1, steps=1, pd_steps=1, samples=16, batch=8, coupling=16,
             nfes=(1,), teacher_nfes=(1,),
             model=dict(channels=4, channel_mult=(1,), num_res_blocks=1, attn_resolutions=(),
                        dropout=0.0, embedding="sinusoidal"))
# method: (sampler, schedule, train steps, workdirs of the chain, scored NFEs)
EXPECTED = {"instaflow": ("euler", "uniform_time", 2, ["reflow", "instaflow"], ["1"]),
            "mmd": ("ddim", "uniform_log_snr", 1, ["mmd"], ["1"]),
            "hyper_sd": ("segmented_consistency", "karras", 2,
                         [f"hyper_sd_{s}" for s in SEGMENTS], ["2", "1"])}


def _leaves(tree):
    return [np.asarray(a) for a in jax.tree.leaves(jax.device_get(tree))]


def _starting_params(config):
    """The student's parameters as ``runner.build`` leaves them before training."""
    return nnx.split(runner.build(config).network, nnx.Param, ...)[1]


def _check_hyper_sd_chain(out: str, runs: str) -> None:
    """Stage 2 starts as the teacher, stage 1 as stage 2's student (EMA parameters), and
    both distil the teacher itself (aux["teacher"] of the trained runs)."""
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


@pytest.mark.slow
def test_methods_end_to_end_and_resume(tmp_path, monkeypatch):
    monkeypatch.setitem(few_step.SCALES, "micro", MICRO)
    monkeypatch.setattr(few_step_methods, "HYPER_SD_SEGMENTS", SEGMENTS)
    out = str(tmp_path)
    runs = os.path.join(out, "runs")
    result = few_step.main(["--out", out, "--scale", "micro", "--methods", ",".join(NEW)])
    assert json.load(open(os.path.join(out, "few_step.json"))) == json.loads(json.dumps(result))
    records = {r["method"]: r for r in result["methods"]}
    assert tuple(records) == NEW
    for m, (sampler, schedule, steps, workdirs, nfes) in EXPECTED.items():
        r = records[m]
        assert (r["sampler"], r["schedule"], r["train_steps"]) == (sampler, schedule, steps)
        assert r["workdirs"] == [os.path.join(runs, w) for w in workdirs]
        assert sorted(r["fd"]) == sorted(nfes)
        assert all(math.isfinite(v) and v > 0 for v in r["fd"].values())
        for n in nfes:
            assert os.path.exists(os.path.join(out, "grids", f"{m}_nfe{n}.png"))
        for w in workdirs:   # every run of the chain trained to its step count
            summary = json.load(open(os.path.join(runs, w, "train_summary.json")))
            assert summary["steps"] == 1
    assert records["hyper_sd"]["note"] == few_step_methods.NOTES["hyper_sd"]
    # MMD-DDM: the teacher with the fine-tuned sampler (DDIM, 4 steps) before fine-tuning
    base = records["mmd"]["baseline"]["fd"]
    assert list(base) == ["4"] and math.isfinite(base["4"])
    # the couplings: the teacher's and the 2-RF's; samples clipped to [-1, 1]
    for name in ("coupling", "coupling_2rf"):
        z = np.load(os.path.join(out, f"{name}.npz"))
        assert z["noise"].shape == z["data"].shape == (16, 28, 28, 1)
        assert np.all(np.abs(z["data"]) <= 1.0) and np.all(np.isfinite(z["data"]))
    assert result["teacher"]["workdir"] == os.path.join(runs, "teacher")
    assert list(result["teacher"]["fd"]) == ["1"]
    _check_hyper_sd_chain(out, runs)

    # resume: every record is found with its step counts, nothing is trained or scored,
    # and a call for one method keeps the records of the others
    def fail(*a, **k):
        raise AssertionError("a finished method was rerun")

    monkeypatch.setattr(few_step, "run_method", fail)
    monkeypatch.setattr(few_step, "score_run", fail)
    again = few_step.main(["--out", out, "--scale", "micro", "--methods", "mmd"])
    assert again["methods"] == result["methods"]
    assert few_step_methods.NOTES["lcm"].startswith("skipping-step")


def test_init_workdir_excludes_init_from_teacher():
    c = runner.load_config("configs/image/fashion_mnist_hyper_sd.py")
    c.objective.teacher_workdir = "teacher_run"
    c.objective.init_workdir = "stage_8_run"     # init_from_teacher stays True
    with pytest.raises(ValueError, match=r"objective.init_workdir='stage_8_run' and "
                                         r"objective.init_from_teacher=True both set"):
        build_objective(c, EDM(), None)
