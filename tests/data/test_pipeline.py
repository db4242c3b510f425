"""The batch pipeline: deterministic, stateless by step (resumable), sharded over hosts,
with epoch permutations and reproducible augmentations."""

import dataclasses
import itertools

import numpy as np
import pytest

from diffax.data import ArrayDataset, epoch_permutation, make_pipeline, uint8_to_float


def _indexed_images(n: int, h: int = 4, w: int = 6) -> ArrayDataset:
    """n distinct, left-right asymmetric images; label = example index."""
    rng = np.random.default_rng(123)
    x = rng.integers(0, 256, (n, h, w, 1), dtype=np.uint8)
    x[:, :, 0, 0] = 0  # left column dark, right column bright: a flip is always visible
    x[:, :, -1, 0] = 255
    return ArrayDataset("indexed", "train", x, np.arange(n), num_classes=n)


def _labels(pipeline, steps):
    return np.concatenate([pipeline.batch(s)["label"] for s in steps])


def _assert_batches_equal(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert a[key].dtype == b[key].dtype
        np.testing.assert_array_equal(a[key], b[key])


def test_batches_have_the_documented_form():
    ds = _indexed_images(50)
    b = make_pipeline(ds, 8, 0).batch(0)
    assert set(b) == {"x", "label"}
    assert b["x"].shape == (8, 4, 6, 1) and b["x"].dtype == np.float32
    assert b["label"].shape == (8,) and b["label"].dtype == np.int32
    # Plain preprocessing is exactly v / 127.5 - 1 of the selected examples.
    np.testing.assert_array_equal(b["x"], ds.x[b["label"]] / np.float32(127.5) - 1)


def test_same_seed_same_batches_different_seed_different():
    ds = _indexed_images(103)
    a, b = make_pipeline(ds, 10, 7, flip=True), make_pipeline(ds, 10, 7, flip=True)
    for step in (0, 1, 9, 10, 35):  # crosses epoch boundaries (10 steps per epoch)
        _assert_batches_equal(a.batch(step), b.batch(step))
    c = make_pipeline(ds, 10, 8, flip=True)
    assert not np.array_equal(_labels(a, range(10)), _labels(c, range(10)))


@pytest.mark.parametrize("n, batch", [(103, 10), (100, 10)])
def test_each_epoch_is_a_permutation(n, batch):
    p = make_pipeline(_indexed_images(n), batch, 3)
    spe = p.steps_per_epoch
    assert spe == n // batch
    orders = []
    for epoch in range(3):
        seen = _labels(p, range(epoch * spe, (epoch + 1) * spe))
        # Drop-remainder: the first spe * batch entries of the epoch's permutation.
        np.testing.assert_array_equal(seen, epoch_permutation(n, 3, epoch)[: spe * batch])
        assert len(np.unique(seen)) == spe * batch  # no example twice in an epoch
        if n % batch == 0:
            np.testing.assert_array_equal(np.sort(seen), np.arange(n))  # all, exactly once
        orders.append(seen)
    assert not np.array_equal(orders[0], orders[1])  # a new order every epoch


def test_epoch_permutation_is_a_permutation():
    perm = epoch_permutation(1000, 0, 5)
    np.testing.assert_array_equal(np.sort(perm), np.arange(1000))
    np.testing.assert_array_equal(perm, epoch_permutation(1000, 0, 5))
    assert not np.array_equal(perm, epoch_permutation(1000, 0, 6))
    assert not np.array_equal(perm, epoch_permutation(1000, 1, 5))


def test_resume_gives_the_uninterrupted_batches():
    ds = _indexed_images(64)
    kwargs = dict(flip=True, dequantize=True)
    uninterrupted = list(itertools.islice(make_pipeline(ds, 8, 11, **kwargs).iterate(), 20))
    for k in (1, 7, 8, 13):
        restarted = make_pipeline(ds, 8, 11, **kwargs)  # a fresh object, as after preemption
        resumed = list(restarted.iterate(start_step=k, num_steps=20 - k))
        assert len(resumed) == 20 - k
        for a, b in zip(uninterrupted[k:], resumed):
            _assert_batches_equal(a, b)
    # grain-threaded prefetching keeps the order.
    threaded = list(make_pipeline(ds, 8, 11, **kwargs).iterate(5, 10, num_threads=2))
    for a, b in zip(uninterrupted[5:15], threaded):
        _assert_batches_equal(a, b)
    grain_ds = make_pipeline(ds, 8, 11, **kwargs).as_grain(start_step=3)
    _assert_batches_equal(grain_ds[9], uninterrupted[12])


@pytest.mark.parametrize("process_count", [2, 4])
def test_union_over_hosts_is_the_global_batch(process_count):
    ds = _indexed_images(101)
    single = make_pipeline(ds, 16, 5, flip=True, dequantize=True)
    hosts = [make_pipeline(ds, 16, 5, process_index=i, process_count=process_count,
                           flip=True, dequantize=True) for i in range(process_count)]
    for step in (0, 3, 6, 17):
        parts = [h.batch(step) for h in hosts]
        assert all(len(part["label"]) == 16 // process_count for part in parts)
        union = {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}
        _assert_batches_equal(union, single.batch(step))


def test_flips_are_fair_coins_independent_of_dequantization():
    ds = _indexed_images(4000)
    p = make_pipeline(ds, 1000, 0, flip=True)
    flipped = []
    for step in range(4):
        b = p.batch(step)
        orig = uint8_to_float(ds.x[b["label"]])
        same = np.all(b["x"] == orig, axis=(1, 2, 3))
        mirrored = np.all(b["x"] == orig[:, :, ::-1], axis=(1, 2, 3))
        assert np.all(same ^ mirrored)  # each image is either unchanged or mirrored
        flipped.append(mirrored)
        # Flip decisions do not depend on whether dequantization is on.
        bd = make_pipeline(ds, 1000, 0, flip=True, dequantize=True).batch(step)
        right_column_bright = bd["x"][:, 0, -1, 0] > 0.9
        np.testing.assert_array_equal(right_column_bright, ~mirrored)
    rate = np.concatenate(flipped).mean()
    assert abs(rate - 0.5) < 0.04  # 5 sigma for 4000 fair coins
    assert not np.any(make_pipeline(ds, 1000, 0).batch(0)["x"][:, 0, 0, 0] > -1)  # no flip


def test_dequantized_values_lie_in_their_pixel_bins():
    ds = _indexed_images(512, h=8, w=8)
    b = make_pipeline(ds, 512, 2, dequantize=True).batch(0)
    v = ds.x[b["label"]].astype(np.float64)
    y = b["x"].astype(np.float64)
    assert b["x"].dtype == np.float32
    assert np.all(y >= v / 128 - 1) and np.all(y < (v + 1) / 128 - 1)
    u = (y + 1) * 128 - v  # the dequantization noise, U[0, 1)
    assert abs(u.mean() - 0.5) < 0.01 and abs(u.std() - np.sqrt(1 / 12)) < 0.01
    np.testing.assert_allclose(np.quantile(u, [0.1, 0.5, 0.9]), [0.1, 0.5, 0.9], atol=0.01)
    assert y.min() >= -1 and y.max() < 1


def test_plain_images_span_exactly_minus_one_to_one():
    ds = _indexed_images(64)
    x = make_pipeline(ds, 64, 0).batch(0)["x"]
    assert x.min() == -1.0 and x.max() == 1.0
    for kwargs in (dict(flip=True), dict(dequantize=True), dict(flip=True, dequantize=True)):
        x = make_pipeline(ds, 64, 0, **kwargs).batch(1)["x"]
        assert x.min() >= -1.0 and x.max() <= 1.0


def test_vector_data_pass_through():
    x = np.random.default_rng(0).normal(size=(30, 2)).astype(np.float32)
    ds = ArrayDataset("vectors", "train", x)
    p = make_pipeline(ds, 6, 1)
    b = p.batch(2)
    assert set(b) == {"x"} and b["x"].dtype == np.float32
    np.testing.assert_array_equal(b["x"], x[p.indices(2)])
    with pytest.raises(ValueError, match=r"need uint8 images.*'vectors'.*\(2,\)"):
        make_pipeline(ds, 6, 1, flip=True)


@pytest.mark.parametrize("kwargs, match", [
    (dict(global_batch_size=10, process_count=4), "not divisible by process_count 4"),
    (dict(global_batch_size=200), "exceeds the 103 examples"),
    (dict(global_batch_size=0), "must be >= 1"),
    (dict(global_batch_size=8, process_index=2, process_count=2), "process_index=2"),
    (dict(global_batch_size=8, seed=-1), "seed must be >= 0"),
    (dict(global_batch_size=8.0), "global_batch_size must be an int"),
])
def test_bad_arguments(kwargs, match):
    kwargs = {"seed": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        make_pipeline(_indexed_images(103), kwargs.pop("global_batch_size"), kwargs.pop("seed"),
                      **kwargs)


def test_bad_steps_and_replace_revalidates():
    p = make_pipeline(_indexed_images(20), 4, 0)
    with pytest.raises(ValueError, match="step must be >= 0, got -1"):
        p.batch(-1)
    with pytest.raises(ValueError, match="step must be an integer"):
        p.batch(1.5)
    _assert_batches_equal(p.batch(np.int64(3)), p.batch(3))
    with pytest.raises(ValueError, match="not divisible"):
        dataclasses.replace(p, process_count=3)
