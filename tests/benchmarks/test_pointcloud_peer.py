"""benchmarks/pointcloud_peer: the per-class unconditional config, the exported clouds,
the scoring of outside samples (checked against exact identities) and the peer adapter's
pure helpers (batch order, scaled learning-rate window). No torch here."""

import numpy as np
import pytest

from benchmarks import pointcloud_peer as peer
from benchmarks import pointcloud_peer_adapter as adapter
from experiments import runner

SIZES = dict(steps=10, batch_size=8, num_points=16, num_per_class=8, eval_count=4)


@pytest.fixture(scope="module")
def exp():
    return runner.build(peer.make_config("torus", **SIZES))


def test_config_is_one_class_and_unconditional(exp, tmp_path):
    c = exp.config
    assert c.data.kwargs["classes"] == ("torus",) and not c.model.class_conditional
    assert exp.num_classes is None and exp.spec.condition == ()
    assert exp.dataset.class_names == ("torus",) and np.all(exp.dataset.labels == 0)
    assert exp.dataset.num_examples == 8 and exp.dataset.num_points == 16
    assert (c.training.n_steps, c.data.batch_size, c.eval.num_samples) == (10, 8, 4)
    # the exported array is the one the pipeline batches from, bit for bit
    summary = peer.export_clouds(exp, str(tmp_path / "clouds.npz"))
    got = np.load(tmp_path / "clouds.npz")["train_x"]
    np.testing.assert_array_equal(got, exp.dataset.points)
    assert summary["num_train"] == 8 and got.dtype == np.float32
    batch = exp.batch(0)["x"]
    assert any(np.array_equal(np.asarray(batch[0]), row) for row in got)


def test_unknown_class_names_the_choices():
    with pytest.raises(ValueError, match="'pyramid'.*torus"):
        peer.make_config("pyramid", **SIZES)


def test_scoring_the_training_clouds_gives_the_data_floor(exp):
    # Samples equal to the first training clouds are the data floor's own set: every
    # metric of "model" must equal "data_floor" exactly, under both protocols.
    scores = peer.score(exp, exp.dataset.points[:4])
    assert scores["num_generated"] == scores["num_reference"] == 4
    for proto in ("pointflow", "bbox"):
        model, floor = scores[proto]["model"], scores[proto]["data_floor"]
        assert set(model) == set(peer.METRIC_KEYS)
        assert model == floor, proto
    # a shifted copy of the floor is scored worse under PointFlow's protocol (data
    # units) but identically under the bounding-box one (each cloud re-centred)
    shifted = peer.score(exp, exp.dataset.points[:4] + np.float32(0.5))
    assert shifted["pointflow"]["model"]["mmd_cd"] > scores["pointflow"]["model"]["mmd_cd"]
    for k in peer.METRIC_KEYS:
        assert shifted["bbox"]["model"][k] == pytest.approx(scores["bbox"]["model"][k],
                                                            rel=1e-5, abs=1e-7), k


def test_batch_order_is_one_shuffle_read_in_order():
    steps = adapter.batch_order(10, 4, 7, seed=2020)
    assert [len(b) for b in steps] == [4, 4, 2, 4, 4, 2, 4]
    first_pass = np.concatenate(steps[:3])
    assert sorted(first_pass) == list(range(10)) and not np.array_equal(first_pass,
                                                                       np.arange(10))
    for k in range(3, 7):  # every pass repeats the first (no reshuffle)
        np.testing.assert_array_equal(steps[k], steps[k - 3])
    np.testing.assert_array_equal(np.concatenate(adapter.batch_order(10, 4, 3, 2020)),
                                  first_pass)
    assert not np.array_equal(np.concatenate(adapter.batch_order(10, 4, 3, 1)), first_pass)
    with pytest.raises(ValueError, match="batch_size=0"):
        adapter.batch_order(10, 0, 3, 0)


def test_scaled_learning_rate_window():
    # the peer's window: constant to 200k, linear to end_lr at 400k (half, whole)
    d = adapter.PEER_DEFAULTS
    assert (d["sched_start_epoch"] / d["sched_end_epoch"]) == 0.5
    assert adapter.scaled_schedule(600) == (300, 600)
    assert adapter.scaled_schedule(7) == (3, 7)
    with pytest.raises(ValueError, match="steps must be >= 2, got 1"):
        adapter.scaled_schedule(1)
