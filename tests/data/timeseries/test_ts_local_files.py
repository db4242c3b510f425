"""Loaders of downloaded benchmarks (PhysioNet 2012, Beijing PM2.5, SMD, PSM) on small
files generated in exactly their formats."""

import re

import numpy as np
import pytest
from ts_benchmark_files import (physionet_record, write_physionet, write_pm25, write_psm,
                                write_smd)

from diffax.data import get_dataset
from diffax.data.timeseries import read_source
from diffax.data.timeseries.physionet import ATTRIBUTES, parse_record
from diffax.data.timeseries.splits import record_split

# ---- PhysioNet 2012 -------------------------------------------------------------------------

def test_physionet_record_binning():
    x = parse_record(physionet_record(1, 70.0, every=False))
    assert x.shape == (48, 35) and np.isnan(x).sum() == 48 * 35 - 4
    col = {a: k for k, a in enumerate(ATTRIBUTES)}
    assert x[0, col["GCS"]] == 15 and x[0, col["HR"]] == 77  # the hour's last HR
    assert x[13, col["pH"]] == 7.41 and x[47, col["Temp"]] == 37.1  # 48:00 is dropped
    every = [15 if a == "GCS" else k + 0.7 for k, a in enumerate(ATTRIBUTES)]
    np.testing.assert_array_equal(parse_record(physionet_record(1, 70.0))[2], every)
    sub = parse_record(physionet_record(1, 70.0), ("Temp", "Weight", "MechVent"))
    assert sub[47, 0] == 37.1 and sub[1, 1] == 80 and sub[5, 2] == 1
    with pytest.raises(ValueError, match=r"r.txt, line 2: expected HH:MM and a number"):
        parse_record("Time,Parameter,Value\nxx,HR,1\n", source="r.txt")
    with pytest.raises(ValueError, match="first line must be 'Time,Parameter,Value'"):
        parse_record("00:00,HR,1\n")


def test_physionet_splits_stats_and_values(tmp_path):
    data_dir = write_physionet(tmp_path)
    ids = list(range(132539, 132549))
    parts = {s: read_source("physionet", s, data_dir=data_dir) for s in ("train", "valid",
                                                                         "test")}
    assert [parts[s].num_series for s in parts] == [7, 1, 2]
    assert sorted(sum((record_split(ids, s) for s in parts), [])) == ids
    hr = ATTRIBUTES.index("HR")
    train_hr = [s[0, hr] for s in parts["train"].series]
    assert train_hr == [67.0 + i - 132539 for i in record_split(ids, "train")]
    test = get_dataset("ts:physionet", "test", data_dir=data_dir)
    assert test.shape == (48, 35) and test.num_examples == 2 and test.frequency == 24
    assert "valid" not in test.element_spec and test.time_unit == "hour"
    hr_at_2 = [ATTRIBUTES.index("HR") + v / 100 for v in np.array(train_hr) - 7]
    assert test.mean[hr] == pytest.approx(np.mean(train_hr + hr_at_2))
    assert test.std[ATTRIBUTES.index("GCS")] == 1.0  # constant in training
    b = test.get(np.arange(2))
    assert b["observed_mask"].sum() == 2 * (4 + 35) and not np.isnan(b["x"]).any()
    got = test.denormalize(b["x"][:, 0])[:, hr]
    np.testing.assert_allclose(got, [67.0 + i - 132539 for i in record_split(ids, "test")])


def test_physionet_attributes_and_errors(tmp_path):
    data_dir = write_physionet(tmp_path)
    ds = get_dataset("ts:physionet", data_dir=data_dir, attributes=["HR", "Temp"])
    assert ds.shape == (48, 2) and ds.channels == ("HR", "Temp")
    with pytest.raises(ValueError, match=r"physionet: unknown attribute 'HeartRate'; valid "
                                         r"choices: \['Albumin'"):
        get_dataset("ts:physionet", data_dir=data_dir, attributes=["HR", "HeartRate"])
    with pytest.raises(ValueError, match="must not repeat"):
        get_dataset("ts:physionet", data_dir=data_dir, attributes=["HR", "HR"])
    with pytest.raises(FileNotFoundError, match=r"pass data_dir=<folder holding set-a/>.*"
                                                r"physionet.org"):
        get_dataset("ts:physionet")
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "nothing" / "set-a"))):
        get_dataset("ts:physionet", data_dir=str(tmp_path / "nothing"))


def test_physionet_record_without_measurements_is_dropped(tmp_path):
    ids = list(range(132539, 132549))
    empty = record_split(ids, "train")[0]
    data_dir = write_physionet(tmp_path, empty=empty)
    with pytest.warns(UserWarning, match=r"ts:physionet \(split 'train'\): dropped 1 of 7"):
        ds = get_dataset("ts:physionet", data_dir=data_dir)
    assert ds.num_examples == 6 and 0 not in ds.series_index


# ---- Beijing PM2.5 --------------------------------------------------------------------------

def test_pm25_months_values_and_eval_mask(tmp_path):
    data_dir, ground, hidden = write_pm25(tmp_path)
    train = read_source("pm25", "train", data_dir=data_dir)
    test = read_source("pm25", "test", data_dir=data_dir)
    assert train.num_series == 2 and test.num_series == 1 and train.num_channels == 3
    np.testing.assert_array_equal(train.series[1], ground[60:90])  # July
    np.testing.assert_array_equal(test.series[0], ground[30:60])  # June is a test month
    np.testing.assert_array_equal(test.eval_target_mask[0], hidden[30:60])
    np.testing.assert_array_equal(np.diff(test.times[0]), np.ones(29))  # hours
    ds = get_dataset("ts:pm25", "test", data_dir=data_dir, window=10)
    assert ds.shape == (10, 3) and ds.start.tolist() == [0, 10, 20]
    b = ds.get(np.arange(3))
    np.testing.assert_array_equal(b["eval_target_mask"].reshape(30, 3), hidden[30:60])
    np.testing.assert_array_equal(b["observed_mask"].reshape(30, 3), ~np.isnan(ground[30:60]))
    np.testing.assert_array_equal(b["time"][0], np.arange(10))
    train_values = np.concatenate([ground[:30], ground[60:]])
    np.testing.assert_allclose(ds.mean, np.nanmean(train_values, axis=0))
    x = ds.denormalize(b["x"].reshape(30, 3).astype(np.float64))
    obs = ~np.isnan(ground[30:60])
    np.testing.assert_allclose(x[obs], ground[30:60][obs], rtol=1e-5)
    with pytest.raises(ValueError, match=r"series 0 has length 30, shorter than window=36"):
        get_dataset("ts:pm25", "test", data_dir=data_dir)


def test_pm25_without_missing_file_and_other_date_style(tmp_path):
    data_dir, ground, _ = write_pm25(tmp_path, with_missing=False, slash_dates=True)
    ds = get_dataset("ts:pm25", data_dir=data_dir, window=30)
    assert "eval_target_mask" not in ds.element_spec and ds.num_examples == 2
    np.testing.assert_allclose(ds.denormalize(ds.get(np.array([1]))["x"][0].astype(float))[
        ~np.isnan(ground[60:90])], ground[60:90][~np.isnan(ground[60:90])], rtol=1e-5)


# A missing file names the file and where to get it; a file that disagrees with its
# companion is refused: (source, writer, not-found message, (file, text, replacement),
# split read, error).
BAD_FILES = [
    ("pm25", write_pm25, r"pm25_ground.txt' not found.*STMVL",
     ("pm25_missing.txt", "001003", "009999"), "train", "same datetimes and stations"),
    ("psm", write_psm, r"train.csv' not found.*RANSynCoders",
     ("test_label.csv", "1000.0,", "999.0,"), "test", "timestamps of .*test_label.csv differ"),
]


@pytest.mark.parametrize("name, write, not_found, edit, split, error", BAD_FILES,
                         ids=[row[0] for row in BAD_FILES])
def test_missing_and_inconsistent_files(tmp_path, name, write, not_found, edit, split, error):
    with pytest.raises(FileNotFoundError, match=not_found):
        get_dataset(f"ts:{name}", data_dir=str(tmp_path))
    data_dir, _, _ = write(tmp_path)
    file, text, replacement = edit
    (tmp_path / file).write_text((tmp_path / file).read_text().replace(text, replacement))
    with pytest.raises(ValueError, match=error):
        read_source(name, split, data_dir=data_dir)


# ---- SMD and PSM ----------------------------------------------------------------------------

def _test_source(name, data_dir, series, labels):
    """The test split of anomaly source ``name``, after checking that its one series and
    its labels are the ones written."""
    test = read_source(name, "test", data_dir=data_dir)
    np.testing.assert_array_equal(test.series[0], series)
    np.testing.assert_array_equal(test.anomaly[0], labels)
    return test


def test_smd_values_and_labels(tmp_path):
    data_dir, values, labels = write_smd(tmp_path)
    test = _test_source("smd", data_dir, values["test"], labels)
    assert test.channels[-1] == "metric_37"
    train = get_dataset("ts:smd", data_dir=data_dir, window=10)
    assert train.shape == (10, 38) and train.num_examples == 31
    assert train.get(np.arange(31))["anomaly"].sum() == 0
    np.testing.assert_allclose(train.mean, values["train"].mean(axis=0))
    ds = get_dataset("ts:smd", "test", data_dir=data_dir, window=10)
    np.testing.assert_array_equal(ds.get(np.arange(4))["anomaly"].ravel(), labels)


def test_smd_errors(tmp_path):
    data_dir, _, _ = write_smd(tmp_path)
    with pytest.raises(ValueError, match=r"smd: unknown machine 'machine-9-9'; valid choices: "
                                         r"\['machine-1-1'\]"):
        get_dataset("ts:smd", data_dir=data_dir, machine="machine-9-9")
    (tmp_path / "test_label" / "machine-1-1.txt").write_text("0\n1\n")
    with pytest.raises(ValueError, match=r"has 2 labels but .* has 40 rows"):
        read_source("smd", "test", data_dir=data_dir)
    with pytest.raises(FileNotFoundError, match=r"ServerMachineDataset.*OmniAnomaly"):
        get_dataset("ts:smd")


def test_psm_values_times_and_labels(tmp_path):
    data_dir, data, labels = write_psm(tmp_path)
    test = _test_source("psm", data_dir, data["test"][1], labels)
    np.testing.assert_array_equal(test.times[0], data["test"][0])
    assert test.channels == tuple(f"feature_{i}" for i in range(25))
    ds = get_dataset("ts:psm", "test", data_dir=data_dir, window=12, stride=4)
    b = ds.get(np.array([2]))  # starts at row 8: the 3-minute gap after row 9
    np.testing.assert_array_equal(b["time"][0], [0, 1] + list(range(5, 15)))
    np.testing.assert_array_equal(b["anomaly"][0], labels[8:20])
    np.testing.assert_array_equal(b["observed_mask"][0], ~np.isnan(data["test"][1][8:20]))
    np.testing.assert_allclose(ds.mean, np.nanmean(data["train"][1], axis=0))


def test_psm_train_timestamps_must_increase(tmp_path):
    data_dir, _, _ = write_psm(tmp_path)
    (tmp_path / "train.csv").write_text("timestamp_(min),feature_0\n2,1\n1,2\n")
    with pytest.raises(ValueError, match=r"must hold increasing timestamps"):
        read_source("psm", "train", data_dir=data_dir)
