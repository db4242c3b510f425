"""benchmarks.few_step end to end at a micro scale for two methods of
benchmarks.few_step_methods that build on earlier runs: InstaFlow (a chain of two runs on
two couplings: the shared reflow run and the distillation of its own pairs) and MMD-DDM
(a baseline record next to its own). LCM and SlimFlow use the same plumbing (one run from
the teacher; a two-run chain on couplings); their configs and chains are checked without
training in test_few_step_cli.py (every compiled run costs ~10 s of CPU on 8 simulated
devices). One shared teacher, every chain trained through the runner, its couplings
written, FD-FMNIST finite at the scale's NFEs, the records' step counts equal to the sum
of the chain's runs, grids written; a second call finds every record and trains nothing.

The micro scale (one optimizer step per run, a 2.8k-parameter U-Net, 16 samples) checks
the plumbing only; its FD values mean nothing."""

import json
import math
import os

import numpy as np

from benchmarks import few_step, few_step_methods

NEW = ("instaflow", "mmd")
MICRO = dict(teacher_steps=1, steps=1, pd_steps=1, samples=16, batch=8, coupling=16,
             nfes=(1,), teacher_nfes=(1,),
             model=dict(channels=4, channel_mult=(1,), num_res_blocks=1, attn_resolutions=(),
                        dropout=0.0, embedding="sinusoidal"))


def test_new_methods_end_to_end_and_resume(tmp_path, monkeypatch):
    monkeypatch.setitem(few_step.SCALES, "micro", MICRO)
    out = str(tmp_path)
    argv = ["--out", out, "--scale", "micro", "--methods", ",".join(NEW)]
    result = few_step.main(argv)
    assert json.load(open(os.path.join(out, "few_step.json"))) == json.loads(json.dumps(result))
    records = {r["method"]: r for r in result["methods"]}
    assert tuple(records) == NEW                      # in the order of METHODS
    teacher = os.path.join(out, "runs", "teacher")
    expected = {"instaflow": ("euler", "uniform_time", 2, ["reflow", "instaflow"]),
                "mmd": ("ddim", "uniform_log_snr", 1, ["mmd"])}
    for m, (sampler, schedule, steps, runs) in expected.items():
        r = records[m]
        assert (r["sampler"], r["schedule"], r["train_steps"]) == (sampler, schedule, steps)
        assert r["workdirs"] == [os.path.join(out, "runs", w) for w in runs]
        assert list(r["fd"]) == ["1"] and math.isfinite(r["fd"]["1"]) and r["fd"]["1"] > 0
        assert os.path.exists(os.path.join(out, "grids", f"{m}_nfe1.png"))
        for w in runs:   # every run of the chain trained to its step count
            summary = json.load(open(os.path.join(out, "runs", w, "train_summary.json")))
            assert summary["steps"] == 1
    # MMD-DDM: the teacher with the fine-tuned sampler (DDIM, 4 steps) before fine-tuning
    base = records["mmd"]["baseline"]["fd"]
    assert list(base) == ["4"] and math.isfinite(base["4"])
    # the couplings: the teacher's and the 2-RF's; samples clipped to [-1, 1]
    for name in ("coupling", "coupling_2rf"):
        z = np.load(os.path.join(out, f"{name}.npz"))
        assert z["noise"].shape == z["data"].shape == (16, 28, 28, 1)
        assert np.all(np.abs(z["data"]) <= 1.0) and np.all(np.isfinite(z["data"]))
    assert result["teacher"]["workdir"] == teacher and list(result["teacher"]["fd"]) == ["1"]

    # resume: every record is found with its step counts, nothing is trained or scored,
    # and a call for one method keeps the records of the others
    def fail(*a, **k):
        raise AssertionError("a finished method was rerun")

    monkeypatch.setattr(few_step, "run_method", fail)
    monkeypatch.setattr(few_step, "score_run", fail)
    again = few_step.main(["--out", out, "--scale", "micro", "--methods", "mmd"])
    assert again["methods"] == result["methods"]
    assert few_step_methods.NOTES["lcm"].startswith("skipping-step")
