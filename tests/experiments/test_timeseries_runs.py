"""The time-series configs through the unchanged runner: train, sample and evaluate for
imputation, forecasting and generation, at tiny sizes (the numbers of a real run are in
docs/timeseries.md; here: every output exists and is consistent)."""

import json
import os

import numpy as np
import pytest

from experiments import runner

TINY = {"csdi": dict(channels=8, num_layers=1, num_heads=2, time_embed_dim=8,
                    feature_embed_dim=4, diffusion_embed_dim=16),
        "unet1d": dict(channels=8, num_res_blocks=1, time_embed_dim=8)}


def tiny(path: str, **task):
    c = runner.load_config(path)
    c.model.kwargs.update(TINY[c.model.name])
    c.training.n_steps = 20
    c.training.log_every = 10
    c.training.ckpt_every = 20
    c.training.sample_every = 0
    c.training.progress = False
    c.sampling.nfe = 4
    c.eval.nfes = (4,)
    c.eval.samplers = ("dpm_solver++_2m",)
    c.eval.draws = 3
    c.eval.num_batches = 1
    c.task.update(task)
    return c


@pytest.mark.parametrize("path, baselines", [
    ("configs/timeseries/co2_imputation.py", ["baseline_linear_interpolation", "baseline_mean"]),
    ("configs/timeseries/co2_forecasting.py",
     ["baseline_last_value", "baseline_linear_trend", "baseline_seasonal_naive"]),
])
@pytest.mark.slow
def test_conditional_configs_train_sample_and_score(path, baselines, tmp_path):
    config = tiny(path)
    workdir = str(tmp_path)
    runner.train(config, workdir)
    draws = runner.sample(config, workdir)
    rows = min(config.data.batch_size, runner.build(config, split="test").dataset.num_examples)
    assert draws.shape[:2] == (3, rows) and np.isfinite(draws).all()
    saved = np.load(os.path.join(workdir, "samples", "dpm_solver++_2m_nfe4_step20_condition.npz"))
    np.testing.assert_array_equal(saved["samples"], draws)
    assert os.path.getsize(os.path.join(workdir, "samples",
                                        "dpm_solver++_2m_nfe4_step20_condition.png")) > 10_000
    results = runner.evaluate(config, workdir)
    (entry,) = json.load(open(os.path.join(workdir, "metrics.json")))["samples"]
    assert entry == results["samples"][0]
    assert entry["nfe"] == 4 and entry["draws"] == 3 and entry["num_examples"] == rows
    assert sorted(k for k in entry if k.startswith("baseline_")) == baselines
    for key in ("crps", "crps_sum", "mae", "rmse"):
        assert np.isfinite(entry[key]) and entry[key] > 0
    # a point prediction's CRPS is its absolute error over sum |y|: the ratio of CRPS to
    # MAE is the same for every baseline (one denominator)
    ratios = [entry[b]["crps"] / entry[b]["mae"] for b in baselines]
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-6)


@pytest.mark.slow
def test_generation_config_trains_samples_and_evaluates(tmp_path):
    config = tiny("configs/timeseries/gunpoint_generation.py", metric_steps=5)
    config.sampling.num_samples = 8
    config.eval.num_samples = 16
    workdir = str(tmp_path)
    runner.train(config, workdir)
    x = runner.sample(config, workdir)
    assert x.shape == (8, 150, 1) and np.isfinite(x).all()
    assert os.path.exists(os.path.join(workdir, "samples", "dpm_solver++_2m_nfe4_step20.png"))
    (entry,) = runner.evaluate(config, workdir)["samples"]
    assert entry["features"] == "pixels" and entry["guidance_scale"] == 1.0
    assert np.isfinite(entry["fd"]) and np.isfinite(entry["sliced_w2"])
    assert entry["metric_steps"] == 5 and 0 <= entry["discriminative_score"] <= 0.5
    assert entry["predictive_score"] > 0 and entry["predictive_score_real"] > 0
    assert 0 <= entry["class_accuracy"] <= 1 and 0 <= entry["class_accuracy_real"] <= 1


def test_a_checkpoint_refuses_data_with_another_channel_count(tmp_path):
    """A model trained on univariate co2 windows, restored with 6-channel BasicMotions
    windows: a ValueError naming both shapes, before any parameter is read."""
    config = tiny("configs/timeseries/co2_imputation.py")
    config.training.n_steps = 2
    config.training.ckpt_every = 2
    workdir = str(tmp_path)
    runner.train(config, workdir)
    other = tiny("configs/timeseries/basic_motions_imputation.py")
    with pytest.raises(ValueError, match=r"shape \[100, 6\].*'ts:co2' with examples of "
                                         r"shape \[48, 1\]"):
        runner.evaluate(other, workdir)
    with pytest.raises(ValueError, match="new --workdir"):
        runner.train(other, workdir)


@pytest.mark.parametrize("path, shape, held_out", [
    ("configs/timeseries/sunspots_imputation.py", (33, 1), 2),
    ("configs/timeseries/macrodata_imputation.py", (16, 10), 3),
    ("configs/timeseries/arrowhead_imputation.py", (251, 1), 175),
    ("configs/timeseries/japanese_vowels_imputation.py", (29, 12), 370),
])
def test_more_imputation_configs_hide_exact_counts_of_observed_values(path, shape, held_out):
    """The benchmark's other bundled sets (their trained numbers: docs/timeseries.md),
    built without training: the windows of each split, and the evaluation targets at 50%
    missing are exactly round(0.5 n_observed) observed values per window. JapaneseVowels'
    padded frames (utterances of 7..29 frames) are unobserved, so never a target."""
    import jax

    config = tiny(path, missing_rate=0.5)
    exp = runner.build(config, split="test")
    assert exp.data_shape == shape and exp.dataset.num_examples == held_out
    assert runner.build(config, split="train").data_shape == shape
    batch = exp.examples(np.arange(min(held_out, 16)))
    observed = np.asarray(batch["observed_mask"])
    target = np.asarray(exp.task.target(config, batch, jax.random.PRNGKey(0), train=False))
    assert np.all(target <= observed)
    counts = observed.reshape(len(observed), -1).sum(1)
    np.testing.assert_array_equal(target.reshape(len(target), -1).sum(1),
                                  [round(0.5 * n) for n in counts])
    if "japanese_vowels" in path:  # unequal lengths: some frames of these windows are padding
        assert counts.min() < np.prod(shape) and counts.max() <= np.prod(shape)
