"""get_dataset("ts:<source>") on the real bundled series: names and options, NaN gaps,
train-only statistics, coverage of evaluation windows, padding, option errors."""

import os

import numpy as np
import pytest

from diffax.data import dataset_names, dataset_options, get_dataset, make_pipeline
from diffax.data.timeseries import SOURCES, load_timeseries, read_source, wheels

needs_wheels = pytest.mark.skipif(
    not os.path.isfile(os.path.join(wheels.wheel_dir(), wheels.WHEELS["statsmodels"])),
    reason="run `make data` (downloads the wheels pinned in requirements-data.lock)")

NAMES = ("italy_power_demand", "gunpoint", "arrowhead", "basic_motions", "japanese_vowels",
         "airline", "co2", "sunspots", "macrodata", "kdd_tsad_135", "daphnet", "physionet",
         "pm25", "smd", "psm")


def _rebuild(ds, series_index=0):
    """Values and mask of one series, from its windows, in data units."""
    b = ds.get(np.flatnonzero(ds.series_index == series_index))
    n = int((ds.start[ds.series_index == series_index]).max()) + ds.length
    values, mask = np.full((n, len(ds.channels)), np.nan), np.zeros((n, len(ds.channels)))
    for x, m, s in zip(ds.denormalize(b["x"].astype(np.float64)), b["observed_mask"],
                       ds.start[ds.series_index == series_index]):
        values[s:s + ds.length] = np.where(m > 0, x, np.nan)
        mask[s:s + ds.length] = m
    return values, mask


def test_names_and_options():
    assert tuple(SOURCES) == NAMES
    assert all(f"ts:{n}" in dataset_names() for n in NAMES)
    assert dataset_options("ts:co2") == ("window", "stride", "normalize", "data_dir")
    assert dataset_options("ts:smd")[-1] == "machine"
    assert dataset_options("ts:physionet")[-1] == "attributes"
    with pytest.raises(ValueError, match=r"data set 'ts:co2': unknown option\(s\) \['machine'\]"):
        get_dataset("ts:co2", machine="machine-1-1")
    with pytest.raises(ValueError, match=r"ts:co2: unknown split 'valid'; valid choices: "
                                         r"\['train', 'test'\]"):
        get_dataset("ts:co2", "valid")
    with pytest.raises(ValueError, match=r"ts:co2: window must be an integer >= 1, got "
                                         r"window=0"):
        get_dataset("ts:co2", window=0)
    with pytest.raises(ValueError, match=r"normalize must be True or False, got "
                                         r"normalize='yes'"):
        get_dataset("ts:co2", normalize="yes")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['machine'\]; this source's own"):
        load_timeseries("co2", machine="m")


@needs_wheels
def test_co2_gaps_become_mask_zeros_and_stats_come_from_train():
    raw = read_source("co2", "train").series[0]
    train = get_dataset("ts:co2")  # window 104, stride 1
    assert train.shape == (104, 1) and train.num_examples == 1827 - 104 + 1
    assert train.frequency == 52 and train.time_unit == "week"
    values, mask = _rebuild(train)
    np.testing.assert_array_equal(mask[:, 0], ~np.isnan(raw[:, 0]))
    assert (mask == 0).sum() == 59
    np.testing.assert_allclose(values, raw, rtol=1e-6)  # NaN where missing, else the value
    b = train.get(np.array([0]))
    assert b["observed_mask"][0, 6, 0] == 0 and b["x"][0, 6, 0] == 0  # 1958-05-10
    np.testing.assert_array_equal(b["time"][0], np.arange(104))
    test = get_dataset("ts:co2", "test")
    test_raw = read_source("co2", "test").series[0]
    assert train.mean[0] == pytest.approx(np.nanmean(raw)) == test.mean[0]
    assert train.std[0] == pytest.approx(np.nanstd(raw)) == test.std[0]
    assert abs(test.mean[0] - test_raw.mean()) > 10  # the trend: test is not centred
    assert test.start.tolist() == [0, 104, 208, 312, 353]  # tiles + one end-aligned
    values, mask = _rebuild(test)
    assert values.shape == test_raw.shape and mask.all()
    np.testing.assert_allclose(values, test_raw, rtol=1e-6)


@needs_wheels
def test_macrodata_channels_normalised_and_inverted():
    ds = get_dataset("ts:macrodata", "test", stride=1)
    raw = read_source("macrodata", "test").series[0]
    train_raw = read_source("macrodata", "train").series[0]
    np.testing.assert_allclose(ds.mean, train_raw.mean(axis=0))
    np.testing.assert_allclose(ds.std, train_raw.std(axis=0))
    assert ds.num_examples == 41 - 16 + 1
    x = ds.get(np.array([3]))["x"][0]
    np.testing.assert_allclose(ds.denormalize(x), raw[3:19], rtol=1e-5)
    np.testing.assert_allclose(ds.normalize(raw[3:19]), x, rtol=1e-5, atol=1e-5)
    plain = get_dataset("ts:macrodata", "test", normalize=False, stride=1)
    assert plain.mean.tolist() == [0.0] * 10 and plain.std.tolist() == [1.0] * 10
    np.testing.assert_array_equal(plain.get(np.array([3]))["x"][0],
                                  raw[3:19].astype(np.float32))


@needs_wheels
def test_classification_sets_as_whole_series_or_windows():
    train = get_dataset("ts:gunpoint")
    assert (train.num_examples, train.shape, train.num_classes) == (50, (150, 1), 2)
    assert "valid" not in train.element_spec
    b = make_pipeline(train, 10, seed=0).batch(0)
    assert b["label"].dtype == np.int32 and b["x"].shape == (10, 150, 1)
    raw = read_source("gunpoint", "train")
    np.testing.assert_allclose(train.mean[0], np.mean(np.stack(raw.series)))
    cut = get_dataset("ts:gunpoint", "test", window=50)
    assert cut.num_examples == 150 * 3 and cut.start[:3].tolist() == [0, 50, 100]
    np.testing.assert_array_equal(cut.get(np.arange(6))["label"],
                                  np.repeat(read_source("gunpoint", "test").labels[:2], 3))
    with pytest.raises(ValueError, match=r"ts:gunpoint \(split 'train'\): series 0 has length "
                                         r"150, shorter than window=200.*window=None"):
        get_dataset("ts:gunpoint", window=200)
    with pytest.raises(ValueError, match=r"stride=5 needs a window"):
        get_dataset("ts:gunpoint", stride=5)


@needs_wheels
def test_japanese_vowels_pad_to_the_longest_of_all_splits():
    for split in ("train", "test"):
        ds = get_dataset("ts:japanese_vowels", split)
        raw = read_source("japanese_vowels", split)
        assert ds.shape == (29, 12) and ds.num_classes == 9
        b = ds.get(np.arange(ds.num_examples))
        np.testing.assert_array_equal(b["valid"].sum(axis=1), raw.lengths)
        np.testing.assert_array_equal(b["observed_mask"].sum(axis=(1, 2)), raw.lengths * 12)
        assert np.all(b["x"][b["valid"] == 0] == 0)
        np.testing.assert_array_equal(b["label"], raw.labels)


@needs_wheels
def test_anomaly_labels_follow_the_windows():
    ds = get_dataset("ts:kdd_tsad_135", "test")
    assert ds.shape == (100, 1) and ds.num_examples == 64  # 63 tiles + the end-aligned
    b = ds.get(np.arange(ds.num_examples))
    hits = [(int(s), int(j)) for s, a in zip(ds.start, b["anomaly"]) for j in np.flatnonzero(a)]
    assert [s + j for s, j in hits] == list(range(2987, 2999))
    daph = get_dataset("ts:daphnet", window=64, stride=64)
    assert daph.shape == (64, 9) and daph.num_examples == 5632 // 64
    assert daph.get(np.arange(3))["anomaly"].sum() == 0
