"""benchmarks.few_step: the stage configs of every method at the tiny scale validate and
chain as documented, and the report renders a fabricated record (table values, the goal
sentence, the plot)."""

import os

import pytest

from benchmarks import few_step, few_step_report
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


def test_goal_not_met_and_missing():
    r = {**RECORD, "methods": [{**RECORD["methods"][0], "fd": {"2": 16.0}}]}
    assert "not met (ratio 1.60)" in few_step_report.goal_check(r)
    r = {**RECORD, "teacher": {**RECORD["teacher"], "fd": {"4": 40.0}}}
    assert few_step_report.goal_check(r) is None


def test_plot_writes_png(tmp_path):
    path = str(tmp_path / "few_step.png")
    few_step_report.plot(RECORD, path)
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_tiny_stage_configs_validate_and_chain(tmp_path):
    scale = few_step.SCALES["tiny"]
    out, teacher = str(tmp_path), str(tmp_path / "teacher")
    validate_config(few_step.teacher_config(scale, 10))
    for method in few_step.METHODS:
        chain = few_step.method_configs(method, scale, 7, 5, out, teacher)
        for _, c in chain:
            validate_config(c)
            assert c.data.batch_size % 8 == 0 and c.model.kwargs.channels == 8
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
    with pytest.raises(ValueError, match="unknown method 'lcm'"):
        few_step.method_configs("lcm", scale, 7, 5, out, teacher)
    with pytest.raises(ValueError, match="--methods: unknown 'lcm'"):
        few_step.main(["--out", out, "--methods", "lcm"])
