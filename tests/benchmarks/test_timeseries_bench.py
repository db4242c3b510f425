"""benchmarks/timeseries.py: the quality loop's plumbing (overrides reach training and
evaluation and are recorded; one record per rate and metric; the table), with the runner
replaced by a recorder, so nothing trains."""

import types

import pytest

from benchmarks import timeseries
from experiments import runner


@pytest.fixture
def fake_runner(monkeypatch):
    seen = {"train": [], "evaluate": []}

    def build(config, split):
        return types.SimpleNamespace(dataset=types.SimpleNamespace(num_examples=70))

    def train(config, workdir):
        seen["train"].append((config.task.scaling, config.eval.num_batches, workdir))

    def evaluate(config, workdir):
        rate = config.task.missing_rate
        seen["evaluate"].append((config.task.scaling, rate, config.eval.split))
        entry = {"sampler": "s", "nfe": 3, "num_examples": 70, "num_targets": 7,
                 "imputations_per_s": 1.0, "crps": rate, "mae": 2 * rate, "rmse": 3 * rate,
                 "baseline_mean": {"crps": 0.5, "mae": 1.0, "rmse": 1.5}}
        return {"samples": [entry]}

    monkeypatch.setattr(runner, "build", build)
    monkeypatch.setattr(runner, "train", train)
    monkeypatch.setattr(runner, "evaluate", evaluate)
    return seen


def test_overrides_reach_training_and_evaluation_and_are_recorded(fake_runner, tmp_path):
    saved = []
    records = timeseries.quality(["sunspots_imputation"], [0.1, 0.9], 5, 4, str(tmp_path),
                                 saved.append, ("task.scaling='standardize'",
                                                "eval.split=train"))
    (scaling, batches, workdir), = fake_runner["train"]
    assert scaling == "standardize" and workdir.endswith("sunspots_imputation")
    assert batches == 3  # ceil(70 held-out windows / batch 32): the whole split
    assert fake_runner["evaluate"] == [("standardize", 0.1, "train"),
                                       ("standardize", 0.9, "train")]
    assert len(records) == 6 and saved == [records]
    r = records[4]  # 90 %, mae
    assert (r["missing_rate"], r["metric"], r["diffax"]) == (0.9, "mae", 1.8)
    assert r["baselines"] == {"mean": 1.0} and r["split"] == "train"
    assert r["overrides"] == ["task.scaling='standardize'", "eval.split=train"]
    assert "| sunspots_imputation | 90% | mae | 1.8 | mean 1 |" in timeseries.table(records)


def test_an_unknown_override_names_the_key(fake_runner, tmp_path):
    with pytest.raises(ValueError, match="task.scalling"):
        timeseries.quality(["sunspots_imputation"], [0.5], 5, 4, str(tmp_path),
                           overrides=("task.scalling=mean",))
    assert fake_runner["train"] == []
