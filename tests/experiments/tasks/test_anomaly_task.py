"""ts_anomaly (ImDiffusion-style detection by imputation): the evaluation split and its
calibration part, grating-mask batches, the loss on targets only, the voting and scoring
logic on synthetic errors with known answers, and an end-to-end run through the unchanged
runner that finds an injected anomaly in a sine wave."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from draft_support import register_for_test

from configs.timeseries import kdd_anomaly
from diffax.data.timeseries.assemble import assemble
from diffax.data.timeseries.collection import SeriesCollection
from diffax.data.timeseries.normalize import Normalizer
from experiments import runner
from experiments.tasks import TASKS, get_task
from experiments.tasks import anomaly as an
from experiments.tasks import anomaly_scoring as scoring


@pytest.fixture(scope="module")
def kdd():
    config = kdd_anomaly.get_config()
    task = get_task("ts_anomaly", config)
    return config, task, task.dataset(config, "train"), task.dataset(config, "test")


def test_training_windows_stop_before_the_calibration_tail_and_eval_windows_come_twice(kdd):
    config, task, train, test = kdd
    assert config.task.eval_stride == 50
    assert train.num_examples == 801 and train.start.max() + 100 == 900  # 1200 - 300
    assert isinstance(test, an.AnomalyEvalSet) and test.copies == 2
    raw = task.load(config, "test", stride=50)  # starts 0, 50, ..., 6200 and 6201
    assert raw.num_examples == 126 and test.calibration_rows == 1200
    assert test.num_examples == 2 * (5 + 126)
    np.testing.assert_array_equal(test.start[:10], np.repeat([900, 950, 1000, 1050, 1100], 2))
    x = test.get(np.arange(test.num_examples))["x"]
    np.testing.assert_array_equal(x[0::2], x[1::2])
    assert test.anomaly[:1200].sum() == 0
    np.testing.assert_array_equal(test.anomaly[1200:], raw.anomaly)
    np.testing.assert_array_equal(test.offsets[10:], np.repeat(raw.offsets + 1200, 2))
    np.testing.assert_array_equal(x[10:][::2], raw.get(np.arange(raw.num_examples))["x"])


def test_grating_batches_hide_one_phase_and_the_loss_counts_targets_only(kdd):
    config, task, train, _ = kdd
    batch = train.get(np.arange(0, 800, 25))  # 32 windows
    spec = task.spec(config, train, batch)
    out = task.batch_transform(config, spec, train=True)(batch, jax.random.PRNGKey(0))
    target, cond = np.asarray(out["loss_mask"])[..., 0], np.asarray(out["cond_mask"])[..., 0]
    np.testing.assert_array_equal(cond, 1 - target)  # fully observed series
    seg = config.task.segment
    # one phase of a grating of period 2 * seg: alternating runs of seg steps
    np.testing.assert_array_equal(target[:, seg:], 1 - target[:, :-seg])
    for row in target:  # interior runs of exactly seg steps
        assert set(np.diff(np.flatnonzero(np.diff(row)))) == {seg}
    assert len({tuple(t) for t in target}) > 4  # random phases and offsets
    # held out: rows 2i and 2i+1 hide complementary phases, from step 0
    held = task.batch_transform(config, spec, train=False)(batch, jax.random.PRNGKey(1))
    h = np.asarray(held["loss_mask"])[..., 0]
    np.testing.assert_array_equal(h[0::2] + h[1::2], np.ones_like(h[0::2]))
    np.testing.assert_array_equal(h[0], (np.arange(100) // seg) % 2 == 0)
    # the objective ignores the network's output off the targets
    exp = runner.build(config)
    mask = jnp.asarray(out["loss_mask"])

    def loss(on_target, off_target):
        net = lambda p, x, c, **kw: jnp.zeros_like(x) + on_target * mask + off_target * (1 - mask)
        return float(exp.objective.loss(net, None, (), out, jax.random.PRNGKey(2))[0])

    assert loss(0.0, 0.0) == pytest.approx(loss(0.0, 1e3), rel=1e-6)
    assert loss(1e3, 0.0) > 100 * loss(0.0, 0.0)


def test_votes_thresholds_and_assembly_on_known_numbers():
    errors = np.array([[0.1, 0.9, 0.2, 0.8, 0.1],
                       [0.2, 0.7, 0.9, 0.1, 0.1],
                       [0.1, 0.8, 0.1, 0.9, 0.3]])
    reference = np.array([[0.0, 0.5], [0.0, 0.5], [0.0, 0.2]])
    thresholds = scoring.member_thresholds(reference, 1.0)
    np.testing.assert_allclose(thresholds, [0.5, 0.5, 0.2])
    votes = scoring.vote_counts(errors, thresholds)
    np.testing.assert_array_equal(votes, [0, 3, 1, 2, 1])
    labels = np.array([0, 1, 1, 1, 0])
    # majority (>= 2 of 3) flags steps 1 and 3: TP 2, FN 1 -> F1 = 4/5; point adjustment
    # completes the segment 1..3 -> 1. Level 1 flags 1..4: PA-F1 = 6/7; level 3 only 1:
    # PA-F1 = 1 -> the best level is 2 (ties go to the lowest level).
    scores = scoring.vote_scores(votes, labels, 3)
    assert scores["vote_f1"] == pytest.approx(0.8) and scores["vote_pa_f1"] == 1.0
    assert scores["vote_best_pa_f1"] == 1.0 and scores["vote_best_level"] == 2
    # two windows of 4 steps overlapping on rows 2..3, the second counted on its first 3
    values = np.array([[1.0, 2.0, 3.0, 4.0], [10.0, 20.0, 30.0, 40.0]])
    weight = np.array([[1, 1, 1, 1], [1, 1, 1, 0]], float)
    mean, count = scoring.assemble_steps(values, np.array([0, 2]), weight, 7)
    np.testing.assert_allclose(mean, [1, 2, 6.5, 12, 30, 0, 0])
    np.testing.assert_array_equal(count, [1, 1, 2, 2, 1, 0, 0])


def _scores(task, config, test, samples_fn, cuts):
    summaries = []
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        batch = test.get(np.arange(lo, hi))
        batch = {k: batch[k] for k in ("x", "observed_mask", "time")}
        cond = task.eval_condition(config, batch, jax.random.PRNGKey(lo))
        summaries.append(task.summarize(samples_fn(batch, np.arange(lo, hi)), batch, cond,
                                        test))
    return task.score(summaries, test)


def test_scores_of_imputations_that_miss_only_the_anomaly(kdd):
    """Draws equal to the truth except +1 on the labelled steps: every detector number of
    the diffusion score is perfect, in one chunk or three; the baseline's are computed on
    the same steps."""
    config, task, _, test = kdd
    config.task.scaling = "none"
    labels = test.anomaly[test.offsets[:, None] + np.arange(100)][..., None]

    def draws(batch, index):  # 3 members
        return np.stack([batch["x"] + labels[index] * (1 + 0.1 * m) for m in range(3)])

    whole = _scores(task, config, test, draws, [0, test.num_examples])
    chunks = _scores(task, config, test, draws, [0, 10, 64, 200, test.num_examples])
    config.task.scaling = kdd_anomaly.get_config().task.scaling
    for key in ("best_f1", "best_pa_f1", "auc_pr", "fixed_f1", "fixed_pa_f1", "vote_f1",
                "vote_pa_f1", "vote_best_pa_f1"):
        assert whole[key] == chunks[key] == 1.0, key
    assert whole["num_test_steps"] == 6301 and whole["num_anomalous_steps"] == 12
    assert whole["num_calibration_steps"] == 300 and whole["test_coverage"] == 1.0
    assert whole["ensemble_members"] == 3 and whole["threshold_reference"] == "calibration"
    assert whole["fixed_threshold"] == 0.0 and whole["normal_step_mae"] == 0.0
    base = whole["baseline_reconstruction"]
    assert base == chunks["baseline_reconstruction"] and 0 < base["auc_pr"] <= 1
    # without calibration data the thresholds come from the test scores themselves
    config.task.calibration_steps = 0
    plain = task.dataset(config, "test")
    assert plain.num_examples == 2 * 126 and plain.calibration_rows == 1200
    labels = plain.anomaly[plain.offsets[:, None] + np.arange(100)][..., None]
    config.task.scaling = "none"
    own = _scores(task, config, plain, draws, [0, plain.num_examples])
    config.task.scaling = kdd_anomaly.get_config().task.scaling
    config.task.calibration_steps = kdd_anomaly.get_config().task.calibration_steps
    assert own["threshold_reference"] == "test" and own["num_calibration_steps"] == 0
    assert own["test_coverage"] == 1.0 and own["auc_pr"] == 1.0
    # the 0.99 quantile of test scores that are 0 but for 12 steps of 6301: 0
    assert own["fixed_threshold"] == 0.0 and own["fixed_f1"] == 1.0
    with pytest.raises(ValueError, match="multiple of 2"):
        batch = test.get(np.arange(1, 5))
        task.eval_condition(config, {k: batch[k] for k in ("x", "observed_mask", "time")},
                            jax.random.PRNGKey(0))


SINE = dict(period=50, window=50, spike=(300, 303, 2.0))


class SineAnomalyTask(an.AnomalyTask):
    """ts_anomaly on a noisy sine: 1,500 training steps; 500 test steps with a spike
    added at ``SINE["spike"]`` = (first step, end, height)."""

    name = "test_sine_anomaly"

    def load(self, config, split, stride=None):
        def series(n, seed):
            t = np.arange(n)
            noise = SINE.get("noise", 0.05) * np.random.default_rng(seed).normal(size=n)
            return (np.sin(2 * np.pi * t / SINE["period"]) + noise)[:, None]

        train = series(1500, 0)
        x, labels = (train, np.zeros(1500, np.int8)) if split == "train" else (
            series(500, 1), np.zeros(500, np.int8))
        if split != "train":
            lo, hi, height = SINE["spike"]
            x[lo:hi] += height
            labels[lo:hi] = 1
        collection = SeriesCollection("sine", split, (x,), ("value",), anomaly=(labels,))
        return assemble(collection, Normalizer.fit([train]), name="test:sine",
                        window=SINE["window"], stride=stride or 1)


def sine_config():
    c = kdd_anomaly.get_config()
    c.task.name = c.data.name = SineAnomalyTask.name
    c.task.segment, c.task.calibration_steps, c.task.eval_stride = 5, 200, 25
    # two blocks: CSDI's first temporal attention has no position input (the time
    # embedding enters after it), so one block cannot learn where the neighbours are
    c.model.kwargs.update(channels=16, num_layers=2, num_heads=2, diffusion_embed_dim=32)
    c.data.batch_size = 32
    t = c.training
    t.n_steps, t.log_every, t.ckpt_every, t.progress = 1000, 500, 1000, False
    t.ema_decays = (0.99,)
    c.optim.learning_rate, c.optim.warmup_steps = 3e-3, 50
    c.eval.draws, c.eval.nfes, c.eval.num_batches = 4, (8,), 2
    return c


KEYS = {"sampler", "nfe", "draws", "num_examples", "wall_s", "imputations_per_s",
        "num_test_steps", "num_anomalous_steps", "num_calibration_steps", "test_coverage",
        "ensemble", "ensemble_members", "threshold_quantile", "threshold_reference", "best_f1",
        "best_f1_threshold", "best_pa_f1", "best_pa_f1_threshold", "auc_pr", "fixed_f1",
        "fixed_pa_f1", "fixed_precision", "fixed_recall", "fixed_threshold", "vote_f1",
        "vote_pa_f1", "vote_best_pa_f1", "vote_best_level", "normal_step_mae",
        "member_normal_mae", "baseline_reconstruction"}


@pytest.mark.slow
def test_end_to_end_the_detector_finds_an_injected_spike(tmp_path, request):
    """train + eval through the runner (1,000 steps of a 2-block CSDI with 16 channels).
    Measured (CPU): imputation error 0.11 on normal steps (noise sd 0.07 after
    normalisation; an untrained net: ~1.0), best F1 = best PA-F1 = AUC-PR = 1.0 for the
    3-step spike (chance AUC-PR: 3/500); bounds with a wide margin."""
    register_for_test(request, TASKS, SineAnomalyTask.name, SineAnomalyTask)
    config = sine_config()
    runner.train(config, str(tmp_path))
    record = runner.evaluate(config, str(tmp_path))["samples"][0]
    assert set(record) == KEYS
    assert set(record["baseline_reconstruction"]) == {
        "best_f1", "best_f1_threshold", "best_pa_f1", "best_pa_f1_threshold", "auc_pr",
        "fixed_f1", "fixed_pa_f1", "fixed_precision", "fixed_recall", "fixed_threshold"}
    assert record["num_test_steps"] == 500 and record["num_anomalous_steps"] == 3
    assert record["num_calibration_steps"] == 200 and record["test_coverage"] == 1.0
    assert record["normal_step_mae"] < 0.3
    assert record["auc_pr"] > 0.5 and record["best_f1"] > 0.5 and record["best_pa_f1"] > 0.5
    pictures = os.listdir(tmp_path / "samples")
    assert any(p.endswith("_anomaly.png") for p in pictures), pictures
    assert json.load(open(tmp_path / "metrics.json"))["samples"][0]["auc_pr"] == record["auc_pr"]
    assert record["ensemble"] == "draws" and len(record["member_normal_mae"]) == 4
    # ImDiffusion's ensemble: the states of the last 4 denoising steps are the members;
    # the final samples (and so the point score) are the draws run's, up to float
    # rounding of another jitted graph; the earliest kept state is the noisiest member
    config.task.ensemble, config.task.ensemble_steps = "steps", 4
    steps = runner.evaluate(config, str(tmp_path))["samples"][0]
    assert steps["ensemble"] == "steps" and steps["ensemble_members"] == 4
    np.testing.assert_allclose(steps["normal_step_mae"], record["normal_step_mae"], rtol=1e-4)
    member_mae = steps["member_normal_mae"]
    assert member_mae[0] > member_mae[-1]
    # the steps ensemble's vote finds the spike with a few false alarms: measured PA-F1 0.6
    # and 0.5 under two XLA:CPU compile settings (4 and 6 flagged normal steps of 497;
    # with the 3 spike steps found, PA-F1 = 6 / (6 + FP)); the bar allows 8 (F1 > 0.4),
    # a detector that misses the spike scores 0
    assert steps["vote_best_pa_f1"] > 0.4
