"""benchmarks/pointcloud --floor-spread: every block's floor equals the evaluation's own
data-floor scores of that block, and the spread record is their mean and std."""

import json

import numpy as np
import pytest

from benchmarks import pointcloud as bench
from diffax.data.pointcloud.shapes import generate_shapes
from experiments.tasks.pointcloud import generation_scores

CLASSES = ("sphere", "torus")


def _splits(per_class: int, seed: int):
    kw = dict(num_per_class=per_class, num_points=12, classes=CLASSES, seed=seed)
    return (*generate_shapes("train", **kw), *generate_shapes("test", **kw))


def test_block_floors_equal_the_evaluations_data_floor():
    train, lt, test, ls = _splits(4, seed=3)
    draws = bench.floor_draws(train, test, lt, ls, [2, 4], emd_points=8, seed=0)
    assert [len(draws[2]), len(draws[4])] == [2, 1]
    for n, blocks in draws.items():
        for b, got in enumerate(blocks):
            per_class = []
            for c in range(len(CLASSES)):
                t = train[lt == c][b * n:(b + 1) * n]
                r = test[ls == c][b * n:(b + 1) * n]
                per_class.append(generation_scores(t, r, t, emd="exact", emd_points=8,
                                                   seed=0)["data_floor"])
            for key, value in got.items():
                want = np.mean([s[key] for s in per_class])
                # the same distances up to float32 rounding (the triangle is mirrored)
                assert value == pytest.approx(want, rel=1e-5, abs=1e-7), (n, b, key)


def test_counts_must_divide_the_clouds_per_class():
    train, lt, test, ls = _splits(4, seed=0)
    with pytest.raises(ValueError, match=r"must divide the 4 clouds per class, got \[3\]"):
        bench.floor_draws(train, test, lt, ls, [3])


def test_spread_record_and_table(tmp_path, monkeypatch):
    from diffax.data.pointcloud import shapes

    real = shapes.generate_shapes
    monkeypatch.setattr(shapes, "generate_shapes",
                        lambda split, **kw: real(split, **{**kw, "classes": CLASSES}))
    rec = bench.floor_spread([1, 2], resamplings=2, num_points=6, emd_points=0,
                             out=str(tmp_path))
    with open(tmp_path / "floor_spread.json") as f:
        assert json.load(f) == json.loads(json.dumps(rec))
    c = rec["counts"]["1"]
    assert c["num_floors"] == 4 and rec["counts"]["2"]["num_floors"] == 2
    vals = [x["1nna_cd"] for x in c["floors"]]
    assert c["mean"]["1nna_cd"] == pytest.approx(np.mean(vals))
    assert c["std"]["1nna_cd"] == pytest.approx(np.std(vals, ddof=1))
    # one cloud per side: the cloud's only other neighbour is across, 1-NNA is 0
    assert vals == [0.0] * 4
    lines = bench.spread_table(rec).splitlines()
    assert lines[0].startswith("| clouds per class | floors | mmd_cd |")
    assert lines[2].startswith("| 1 | 4 | ")
