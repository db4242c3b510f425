"""benchmarks.few_step: the stage configs of every method at the tiny scale validate and
chain as documented (teachers, couplings, initialisations), and the report renders a fabricated record (table values, the goal
sentence, the plot)."""

import os

import pytest

from benchmarks import few_step, few_step_methods, few_step_report
from experiments.config_checks import validate_config

RECORD = {
    "meta": {"scale": "tiny"},
    "teacher": {"train_steps": 400, "wall_s": 60.0, "sampler": "dpm_solver++_2m",
                "fd": {"4": 40.0, "10": 12.0, "20": 10.0}},
    "methods": [
        {"method": "cd", "sampler": "consistency", "train_steps": 200, "wall_s": 30.0,
         "fd": {"1": 30.0, "2": 14.0, "4": 13.0, "8": 12.5}},
        {"method": "pd", "sampler": "ddim", "train_steps": 400, "wall_s": 50.0,
         "fd": {"8": 11.0, "2": 20.0}},
    ],
}


def test_table_and_goal():
    table = few_step_report.few_step_table(RECORD)
    assert "| cd | consistency | 30.00 | 14.00 | 13.00 | 12.50 | 200 | 30 |" in table
    assert "| pd | ddim | - | 20.00 | - | 11.00 | 400 | 50 |" in table
    assert "| FD-FMNIST | 40.00 | 12.00 | 10.00 |" in table
    goal = few_step_report.goal_check(RECORD)
    assert "cd at 14.00: met (ratio 1.40)" in goal  # 14 <= 1.5 x 10


def test_baseline_line():
    table = few_step_report.few_step_table({**RECORD, "methods": RECORD["methods"] + [MMD]})
    assert "mmd (ddim, NFE 4): teacher before fine-tuning 45.00, after 30.00." in table


def test_goal_not_met_and_missing():
    r = {**RECORD, "methods": [{**RECORD["methods"][0], "fd": {"2": 16.0}}]}
    assert "not met (ratio 1.60)" in few_step_report.goal_check(r)
    r = {**RECORD, "teacher": {**RECORD["teacher"], "fd": {"4": 40.0}}}
    assert few_step_report.goal_check(r) is None


MMD = {"method": "mmd", "sampler": "ddim", "train_steps": 5, "wall_s": 1.0,
       "fd": {"4": 30.0}, "baseline": {"label": "teacher before fine-tuning", "fd": {"4": 45.0}}}


def test_plot_writes_png(tmp_path):
    path = str(tmp_path / "few_step.png")
    few_step_report.plot({**RECORD, "methods": RECORD["methods"] + [MMD]}, path)
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_tiny_stage_configs_validate_and_chain(tmp_path):
    scale = few_step.SCALES["tiny"]
    out, teacher = str(tmp_path), str(tmp_path / "teacher")
    validate_config(few_step.teacher_config(scale, 10))
    for method in few_step.METHODS:
        chain = few_step.method_configs(method, scale, 7, 5, out, teacher)
        for _, c in chain:
            validate_config(c)
            assert c.data.batch_size % 8 == 0
            assert c.model.kwargs.channels == (4 if method == "slimflow" else 8)
        if method == "pd":  # stage n's teacher is stage 2n's run, the first the teacher
            assert [c.objective.kwargs.student_steps for _, c in chain] == [8, 4, 2, 1]
            assert [c.objective.teacher_workdir for _, c in chain] == [
                teacher] + [w for w, _ in chain[:-1]]
            assert all(c.training.n_steps == 5 for _, c in chain)
        elif method == "cd":
            assert chain[0][1].objective.teacher_workdir == teacher
            assert chain[0][1].training.n_steps == 7
        elif method == "reflow":
            assert chain[0][1].objective.coupling_file == os.path.join(out, "coupling.npz")
        elif method in ("lcm", "mmd", "scott"):
            (_, c), = chain
            assert c.objective.teacher_workdir == teacher and c.objective.init_from_teacher
        elif method == "hyper_sd":  # stage s: the teacher distilled, started from stage 2s
            assert [c.objective.kwargs.num_segments for _, c in chain] == [8, 4, 2, 1]
            assert [(c.sampling.nfe, c.eval.nfes) for _, c in chain] == [
                (s, (s,)) for s in (8, 4, 2, 1)]
            assert all(c.objective.teacher_workdir == teacher for _, c in chain)
            assert [c.objective.init_from_teacher for _, c in chain] == [True] + [False] * 3
            assert [c.objective.init_workdir for _, c in chain] == [""] + [
                w for w, _ in chain[:-1]]
            assert all(c.training.n_steps == 5 and c.sampling.sampler ==
                       "segmented_consistency" and c.sampling.sampler_kwargs.grid ==
                       c.objective.kwargs.grid == "karras" for _, c in chain)
        elif method == "ict":  # from scratch, the curriculum over the run's steps
            (_, c), = chain
            assert not c.objective.get("teacher_workdir", "")
            assert c.training.n_steps == c.objective.kwargs.total_steps == scale["teacher_steps"]
    # SCott: LCM's config with the stochastic multi-step teacher step
    (_, scott), = few_step.method_configs("scott", scale, 7, 5, out, teacher)
    assert scott.objective.name == "scott_distillation" and scott.training.n_steps == 7
    k = scott.objective.kwargs
    assert (k.sampler, dict(k.sampler_options), k.teacher_substeps, k.grid) == (
        "sde_dpm_solver++_2m", {"eta": 0.5}, 2, "karras")
    assert (scott.sampling.sampler, scott.sampling.schedule) == ("consistency", "karras")
    assert few_step_methods.STAGED == ("pd", "hyper_sd")
    stages = {m: few_step_methods.method_stages(m, scale, 7, 5, out, teacher)
              for m in ("reflow", "instaflow", "slimflow")}
    # InstaFlow: the reflow run itself (shared, trained once), then the distillation of its
    # own coupling, initialised from it
    (reflow,), (first, insta) = stages["reflow"], stages["instaflow"]
    assert first.workdir == reflow.workdir and first.coupling_from == teacher
    assert insta.coupling_from == insta.config.objective.teacher_workdir == reflow.workdir
    assert insta.config.objective.init_from_teacher
    assert insta.config.objective.coupling_file == os.path.join(out, "coupling_2rf.npz")
    # SlimFlow: annealing reflow of the teacher's pairs, then distillation of its own pairs
    anneal, slim = stages["slimflow"]
    assert anneal.config.objective.coupling_file == os.path.join(out, "coupling.npz")
    assert anneal.coupling_from == teacher
    assert slim.coupling_from == slim.config.objective.teacher_workdir == anneal.workdir
    assert slim.config.objective.kwargs.guidance_weight == 1.0
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        few_step.method_configs("nope", scale, 7, 5, out, teacher)
    with pytest.raises(ValueError, match="--methods: unknown 'nope'"):
        few_step.main(["--out", out, "--methods", "nope"])
