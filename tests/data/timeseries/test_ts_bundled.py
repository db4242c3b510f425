"""The real series bundled in the pinned aeon/statsmodels wheels (`make data` downloads
them into .venv/share/diffax-data): known facts of each source, and where the wheels are
looked for."""

import os
import re
import zipfile

import numpy as np
import pytest

from diffax.data.pointcloud import meshes
from diffax.data.timeseries import read_source, wheels
from diffax.data.timeseries.forecasting import MACRO_COLUMNS
from diffax.data.timeseries.tsformat import parse_ts

needs_wheels = pytest.mark.skipif(
    not os.path.isfile(os.path.join(wheels.wheel_dir(), wheels.WHEELS["aeon"])),
    reason="run `make data` (downloads the wheels pinned in requirements-data.lock)")


@needs_wheels
@pytest.mark.parametrize("name, train, test, length, channels, class_names", [
    ("italy_power_demand", 67, 1029, 24, 1, ("1", "2")),
    ("gunpoint", 50, 150, 150, 1, ("1", "2")),
    ("arrowhead", 36, 175, 251, 1, ("0", "1", "2")),
    ("basic_motions", 40, 40, 100, 6, ("Standing", "Running", "Walking", "Badminton")),
])
def test_equal_length_classification_sets(name, train, test, length, channels, class_names):
    for split, count in (("train", train), ("test", test)):
        c = read_source(name, split)
        assert c.num_series == count and c.num_channels == channels
        assert set(c.lengths.tolist()) == {length}
        assert c.class_names == class_names and c.num_missing == 0
        assert set(c.labels.tolist()) == set(range(len(class_names)))


@needs_wheels
def test_classification_values_and_class_balance():
    gun = read_source("gunpoint", "train")
    assert gun.series[0][0, 0] == -0.6478854 and gun.series[0][-1, 0] == -0.63865722
    assert gun.labels[0] == 1  # the first line ends with ':2', the second class
    assert np.bincount(gun.labels).tolist() == [24, 26]
    assert np.bincount(read_source("gunpoint", "test").labels).tolist() == [76, 74]
    motions = read_source("basic_motions", "train")
    assert motions.class_names[motions.labels[0]] == "Standing"
    assert motions.channels == tuple(f"dim_{i}" for i in range(6))
    assert np.bincount(motions.labels).tolist() == [10] * 4
    np.testing.assert_array_equal(motions.series[0][:3, 5], [0.633883, 0.633883, 0.972131])


@needs_wheels
def test_japanese_vowels_has_unequal_lengths():
    train, test = read_source("japanese_vowels", "train"), read_source("japanese_vowels", "test")
    assert (train.num_series, test.num_series, train.num_channels) == (270, 370, 12)
    assert (train.lengths.min(), train.lengths.max()) == (7, 26)
    assert (test.lengths.min(), test.lengths.max()) == (7, 29)
    assert train.lengths[0] == 20 and train.labels[0] == 0
    assert np.bincount(train.labels).tolist() == [30] * 9
    assert train.num_missing == 0


@needs_wheels
def test_timestamped_ts_file_from_the_wheel():
    text = wheels.read_member("aeon", "aeon/datasets/data/UnitTest/UnitTestTimeStamps_TRAIN.ts")
    d = parse_ts(text)
    assert len(d.series) == 4 and d.labels.tolist() == [0, 0, 1, 1]
    np.testing.assert_array_equal(d.series[0][:, 0], [241.97, 241.75, 241.64, 241.71])
    np.testing.assert_array_equal(np.diff(d.times[0]), [60, 60, 60])


@needs_wheels
def test_forecasting_series():
    airline = [read_source("airline", s) for s in ("train", "test")]
    assert [c.lengths[0] for c in airline] == [115, 29] and airline[0].frequency == 12
    assert airline[0].series[0][:3, 0].tolist() == [112, 118, 132]
    assert airline[1].series[0][-1, 0] == 432
    co2 = [read_source("co2", s) for s in ("train", "test")]
    assert [c.lengths[0] for c in co2] == [1827, 457] and co2[0].frequency == 52
    gaps = np.flatnonzero(np.isnan(co2[0].series[0][:, 0]))
    assert gaps.size == 59 and gaps[0] == 6  # 1958-05-10 is the first missing week
    assert co2[1].num_missing == 0 and co2[1].series[0][-1, 0] == 371.5
    sun = [read_source("sunspots", s) for s in ("train", "test")]
    assert [c.lengths[0] for c in sun] == [247, 62] and sun[0].frequency == 11
    assert sun[0].series[0][:2, 0].tolist() == [5, 11] and sun[1].series[0][-1, 0] == 2.9
    macro = [read_source("macrodata", s) for s in ("train", "test")]
    assert [c.lengths[0] for c in macro] == [162, 41] and macro[0].channels == MACRO_COLUMNS
    assert macro[0].series[0][0].tolist() == [2710.349, 1707.4, 286.898, 470.045, 1886.9,
                                              28.98, 139.7, 2.82, 5.8, 177.146]
    assert macro[1].frequency == 4


@needs_wheels
def test_anomaly_series():
    train, test = read_source("kdd_tsad_135", "train"), read_source("kdd_tsad_135", "test")
    assert (train.lengths[0], test.lengths[0]) == (1200, 6301)
    assert train.anomaly[0].sum() == 0
    # The file marks steps 4187..4198 of the whole series; test starts at step 1200.
    np.testing.assert_array_equal(np.flatnonzero(test.anomaly[0]), np.arange(2987, 2999))
    assert test.series[0][0, 0] == 73.43674 and train.series[0][0, 0] == 63.73215
    daph = [read_source("daphnet", s) for s in ("train", "test")]
    assert [c.lengths[0] for c in daph] == [5632, 1408] and daph[0].num_channels == 9
    assert all(c.anomaly[0].sum() == 0 for c in daph)  # no freeze in this recording
    assert daph[0].series[0][0].tolist() == [101, 1000, 297, -9, 953, 303, 330, 942, -145]


def test_missing_wheel_names_the_folder_and_make_data(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path)) + r".*make data"):
        read_source("gunpoint", "train", data_dir=str(tmp_path))
    monkeypatch.setenv(wheels.ENV_VAR, str(tmp_path))
    assert wheels.wheel_dir() == str(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"aeon-1\.6\.0-py3-none-any\.whl not found"):
        read_source("airline", "train")
    assert wheels.wheel_dir("/explicit") == "/explicit"  # data_dir wins over the variable
    monkeypatch.delenv(wheels.ENV_VAR)
    assert wheels.wheel_dir() == wheels.default_wheel_dir()


def test_a_wrong_wheel_is_reported(tmp_path):
    with zipfile.ZipFile(tmp_path / wheels.WHEELS["statsmodels"], "w") as z:
        z.writestr("statsmodels/__init__.py", "")
    with pytest.raises(FileNotFoundError, match=r"no member 'statsmodels/datasets/co2/co2.csv'"):
        read_source("co2", "train", data_dir=str(tmp_path))


def test_lock_file_pins_the_wheels_the_readers_open():

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    with open(os.path.join(root, "requirements-data.lock")) as f:
        lock = f.read()
    pins = dict(re.findall(r"^([a-z]+)==(\S+) ", lock, flags=re.M))
    # every data wheel a reader opens: the time-series ones and pc:meshes' pyvista
    versions = {**wheels.VERSIONS, meshes.PACKAGE: meshes.VERSION}
    files = {**wheels.WHEELS, meshes.PACKAGE: meshes.WHEEL}
    assert pins == versions
    assert len(re.findall(r"--hash=sha256:[0-9a-f]{64}", lock)) == len(files)
    for package, filename in files.items():
        assert filename.startswith(f"{package}-{pins[package]}-")
    with open(os.path.join(root, "Makefile")) as f:
        makefile = f.read()
    assert all(filename in makefile for filename in files.values())
