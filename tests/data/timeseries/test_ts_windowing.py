"""Window starts, per-channel normalisation and assembling collections into datasets
(synthetic series with known values)."""

import warnings

import numpy as np
import pytest

from diffax.data import make_pipeline
from diffax.data.base import Dataset
from diffax.data.timeseries import Normalizer, SeriesCollection, assemble, window_starts
from diffax.data.timeseries.windows import check_lengths


@pytest.mark.parametrize("length, window, stride", [
    (10, 4, 1), (10, 4, 4), (10, 5, 5), (10, 10, 3), (11, 3, 2), (7, 2, 5)])
def test_window_starts_cover_the_series_to_its_end(length, window, stride):
    starts = window_starts(length, window, stride)
    assert starts[0] == 0 and starts[-1] == length - window
    assert np.all(np.diff(starts) > 0)
    assert np.all(np.diff(starts)[:-1] == stride)  # regular, except the added last one
    covered = np.zeros(length, bool)
    for s in starts:
        covered[s:s + window] = True
    assert covered.all() or stride > window


def test_window_starts_values_and_errors():
    np.testing.assert_array_equal(window_starts(10, 4, 4), [0, 4, 6])
    np.testing.assert_array_equal(window_starts(12, 4, 4), [0, 4, 8])
    np.testing.assert_array_equal(window_starts(5, 5, 1), [0])
    with pytest.raises(ValueError, match="length 3 is shorter than the window 4"):
        window_starts(3, 4, 1)
    with pytest.raises(ValueError, match=r"stride must be an integer >= 1, got stride=0"):
        window_starts(10, 4, 0)
    with pytest.raises(ValueError, match=r"series 1 has length 5, shorter than window=8 \(2 "
                                         r"of 3 series are; the shortest has 3 steps\)\. "
                                         r"Pass window=<at most 3>"):
        check_lengths("ts:x (split 'train')", [9, 5, 3], 8)


def test_normalizer_uses_observed_values_and_inverts():
    a = np.array([[1.0, 10.0, 5.0], [3.0, np.nan, 5.0]])
    b = np.array([[np.nan, 30.0, 5.0]])
    norm = Normalizer.fit([a, b], ["p", "q", "r"])
    np.testing.assert_allclose(norm.mean, [2.0, 20.0, 5.0])
    np.testing.assert_allclose(norm.std, [1.0, 10.0, 1.0])  # constant channel: std 1
    x = np.array([[4.0, 0.0, 6.0]])
    np.testing.assert_allclose(norm.normalize(x), [[2.0, -2.0, 1.0]])
    np.testing.assert_allclose(norm.denormalize(norm.normalize(x)), x)
    assert norm.denormalize(np.zeros(3, np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match=r"channel\(s\) \['q'\] have no observed value"):
        Normalizer.fit([np.array([[1.0, np.nan]])], ["p", "q"])
    with pytest.raises(ValueError, match="std finite and > 0"):
        Normalizer(np.zeros(2), np.array([1.0, 0.0]))


def _collection(split="train", **kw):
    series = (np.array([[0.0, 1], [1, np.nan], [2, 3], [3, 4], [4, 5], [5, 6]]),
              np.array([[10.0, 11], [11, 12], [12, np.nan], [13, 14]]))
    return SeriesCollection("toy", split, series, ("a", "b"), **kw)


def test_windows_rebuild_the_series_and_hide_nan():
    c = _collection(anomaly=(np.array([0, 0, 1, 0, 0, 0]), np.array([0, 1, 0, 0])))
    norm = Normalizer.fit(c.series)
    ds = assemble(c, norm, name="ts:toy", window=3, stride=2)
    assert isinstance(ds, Dataset) and ds.shape == (3, 2) and not ds.is_image
    # starts 0, 2, 3 in the first series; 0, 1 in the second (last window end-aligned)
    assert ds.series_index.tolist() == [0, 0, 0, 1, 1] and ds.start.tolist() == [0, 2, 3, 0, 1]
    b = ds.get(np.arange(ds.num_examples))
    assert {k: (v.dtype, v.shape) for k, v in b.items()} == {
        k: (s.dtype, (5,) + s.shape) for k, s in ds.element_spec.items()}
    assert not np.isnan(b["x"]).any()
    for i, (s, t) in enumerate(zip(ds.series_index, ds.start)):
        raw = c.series[s][t:t + 3]
        np.testing.assert_array_equal(b["observed_mask"][i], ~np.isnan(raw))
        np.testing.assert_array_equal(b["x"][i][np.isnan(raw)], 0.0)
        np.testing.assert_allclose(ds.denormalize(b["x"][i])[~np.isnan(raw)],
                                   raw[~np.isnan(raw)], rtol=1e-6)
        np.testing.assert_array_equal(b["anomaly"][i], c.anomaly[s][t:t + 3])
        np.testing.assert_array_equal(b["time"][i], [0, 1, 2])


def test_whole_series_are_padded_with_a_validity_mask():
    c = _collection(labels=np.array([1, 0]), class_names=("x", "y"))
    ds = assemble(c, Normalizer.identity(2), name="ts:toy", window=None, pad_to=7)
    assert ds.shape == (7, 2) and ds.num_classes == 2 and ds.num_examples == 2
    b = ds.get(np.array([1, 0]))
    assert b["label"].tolist() == [0, 1] and b["label"].dtype == np.int32
    np.testing.assert_array_equal(b["valid"], [[1] * 4 + [0] * 3, [1] * 6 + [0]])
    np.testing.assert_array_equal(b["x"][0, :, 0], [10, 11, 12, 13, 0, 0, 0])
    np.testing.assert_array_equal(b["observed_mask"][0, :, 1], [1, 1, 0, 1, 0, 0, 0])
    np.testing.assert_array_equal(b["time"][0], np.arange(7))
    same = assemble(_collection(labels=np.array([1, 0]), class_names=("x", "y")),
                    Normalizer.identity(2), name="ts:toy", window=None, pad_to=6)
    assert "valid" in same.element_spec  # the 4-step series is still padded
    with pytest.raises(ValueError, match="stride=2 needs a window"):
        assemble(c, Normalizer.identity(2), name="ts:toy", window=None, stride=2)


def test_real_timestamps_become_relative_times():
    c = SeriesCollection("stamps", "train", (np.arange(8.0)[:, None],), ("v",),
                         times=(np.array([0.0, 1, 2, 5, 6, 10, 11, 12]) + 1e9,))
    ds = assemble(c, Normalizer.identity(1), name="ts:stamps", window=3, stride=3)
    np.testing.assert_array_equal(ds.get(np.arange(3))["time"],
                                  [[0, 1, 2], [0, 1, 5], [0, 1, 2]])


def test_all_missing_windows_are_dropped_with_a_count():
    s = np.ones((8, 1))
    s[2:6] = np.nan
    c = SeriesCollection("gappy", "train", (s,), ("v",))
    with pytest.warns(UserWarning, match=r"dropped 3 of 7 windows that have no observed"):
        ds = assemble(c, Normalizer.identity(1), name="ts:gappy", window=2, stride=1)
    assert ds.start.tolist() == [0, 1, 5, 6]
    empty = SeriesCollection("void", "test", (np.full((4, 1), np.nan),), ("v",))
    with pytest.raises(ValueError, match=r"ts:void \(split 'test'\): none of the 2 windows "
                                         "has an observed value"):
        assemble(empty, Normalizer.identity(1), name="ts:void", window=2, stride=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assemble(_collection(), Normalizer.identity(2), name="ts:toy", window=2)


def test_short_series_name_length_window_and_option():
    with pytest.raises(ValueError, match=r"ts:toy \(split 'train'\): series 1 has length 4, "
                                         r"shorter than window=5.*Pass window=<at most 4>"):
        assemble(_collection(), Normalizer.identity(2), name="ts:toy", window=5)


def test_pipeline_batches_keep_every_key():
    c = _collection(anomaly=(np.zeros(6), np.zeros(4)))
    ds = assemble(c, Normalizer.fit(c.series), name="ts:toy", window=2, stride=1)
    batch = make_pipeline(ds, 4, seed=0).batch(1)
    assert set(batch) == {"x", "observed_mask", "time", "anomaly"}
    assert batch["x"].dtype == np.float32 and batch["anomaly"].dtype == np.int32
    with pytest.raises(ValueError, match="need uint8 images"):
        make_pipeline(ds, 4, seed=0, flip=True)


def test_collection_validation():
    with pytest.raises(ValueError, match=r"series\[0\] must have shape \(length >= 1, 2\)"):
        SeriesCollection("x", "train", (np.zeros((3, 1)),), ("a", "b"))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        SeriesCollection("x", "train", (np.zeros((3, 1)),), ("a",), labels=np.array([2]),
                         class_names=("p", "q"))
    with pytest.raises(ValueError, match=r"anomaly\[0\] must have shape \(3,\)"):
        SeriesCollection("x", "train", (np.zeros((3, 1)),), ("a",), anomaly=(np.zeros(2),))
    with pytest.raises(ValueError, match=r"times\[0\] must be finite and strictly increasing"):
        SeriesCollection("x", "train", (np.zeros((3, 1)),), ("a",),
                         times=(np.array([0.0, 2, 1]),))
    c = _collection()
    assert c.num_missing == 2 and c.lengths.tolist() == [6, 4]
    assert not c.series[0].flags.writeable
