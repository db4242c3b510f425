"""The .ts reader/writer on hand-written files, and the CSV/date helpers."""

import numpy as np
import pytest

from diffax.data.timeseries.textio import (parse_csv, parse_datetime, parse_numeric_csv,
                                           to_float)
from diffax.data.timeseries.tsformat import TsFormatError, format_ts, parse_ts, read_ts

UNIVARIATE = """# a comment
% another comment style
@problemName Toy
@timeStamps false
@missing true
@univariate true
@equalLength true
@seriesLength 4
@classLabel true up down
@data
1.0,2.0,3.0,4.5:up

4,3,?,1:down
"""

MULTIVARIATE_UNEQUAL = """@problemName Vowels
@univariate false
@dimensions 2
@equalLength false
@classLabel true 1 2 3
@data
1,2,3:10,20,30:3
5,6:50:1
"""

TIMESTAMPED = """@problemName Stamps
@timeStamps true
@univariate false
@dimensions 2
@classLabel false
@data
(2007-01-01 00:00:00,1.5),(2007-01-01 00:01:00,2.5):(2007-01-01 00:01:00,7),(2007-01-01 00:02:00,8)
(0,1),(2,?):(0,3),(2,4)
"""


def test_univariate_with_labels_missing_and_comments():
    d = parse_ts(UNIVARIATE)
    assert d.problem_name == "Toy" and d.class_names == ("up", "down")
    assert d.labels.tolist() == [0, 1] and d.times is None
    np.testing.assert_array_equal(d.series[0][:, 0], [1.0, 2.0, 3.0, 4.5])
    np.testing.assert_array_equal(d.series[1][:, 0], [4, 3, np.nan, 1])
    assert d.header["serieslength"] == "4" and d.header["missing"] == "true"


def test_multivariate_unequal_lengths_pad_channels_with_nan():
    d = parse_ts(MULTIVARIATE_UNEQUAL)
    assert [s.shape for s in d.series] == [(3, 2), (2, 2)]
    np.testing.assert_array_equal(d.series[0], [[1, 10], [2, 20], [3, 30]])
    np.testing.assert_array_equal(d.series[1], [[5, 50], [6, np.nan]])  # channel 2 shorter
    assert d.labels.tolist() == [2, 0] and d.class_names == ("1", "2", "3")


def test_timestamps_align_channels_on_the_union_of_times():
    d = parse_ts(TIMESTAMPED)
    assert d.labels is None and d.class_names is None
    t0 = parse_datetime("2007-01-01")
    np.testing.assert_array_equal(d.times[0], [t0, t0 + 60, t0 + 120])
    np.testing.assert_array_equal(d.series[0], [[1.5, np.nan], [2.5, 7], [np.nan, 8]])
    np.testing.assert_array_equal(d.times[1], [0, 2])
    np.testing.assert_array_equal(d.series[1], [[1, 3], [np.nan, 4]])


def test_round_trip_through_format_ts(tmp_path):
    rng = np.random.default_rng(0)
    series = [rng.standard_normal((5, 3)), rng.standard_normal((2, 3))]
    series[0][1, 2] = np.nan
    labels = np.array([1, 0])
    text = format_ts(series, problem_name="rt", labels=labels, class_names=("a", "b"))
    path = tmp_path / "rt_TRAIN.ts"
    path.write_text(text)
    d = read_ts(str(path))
    assert d.problem_name == "rt" and d.class_names == ("a", "b")
    assert d.header["equallength"] == "false" and d.header["missing"] == "true"
    np.testing.assert_array_equal(d.labels, labels)
    for a, b in zip(d.series, series):
        np.testing.assert_array_equal(a, b)  # repr() keeps every bit
    equal = [rng.standard_normal((4, 1)) for _ in range(3)]
    d = parse_ts(format_ts(equal))
    assert d.header["serieslength"] == "4" and d.labels is None
    np.testing.assert_array_equal(np.stack(d.series), np.stack(equal))


@pytest.mark.parametrize("text, match", [
    ("@problemName x\n1,2\n", r"line 2: expected a header tag"),
    ("@problemName x\n@univariate true\n", r"no '@data' line"),
    ("@classLabel true a b\n@data\n1,2:c\n", r"line 3: class label 'c' is not one of .*\['a', 'b'\]"),
    ("@univariate true\n@classLabel false\n@data\n1,2:3,4\n", r"expected 1 channel\(s\)"),
    ("@dimensions 2\n@data\n1,2:3,4\n1,2\n", r"line 4: expected 2 channel"),
    ("@equalLength true\n@seriesLength 3\n@data\n1,2\n", r"length 2, but the header says "
                                                          r"@seriesLength 3"),
    ("@data\n1,x,3\n", r"'x' is not a number or '\?'"),
    ("@univariate maybe\n@data\n1\n", r"@univariate must be true or false"),
    ("@targetLabel true\n@data\n1,2:0.5\n", r"regression files"),
    ("@classLabel true\n@data\n1:a\n", r"must list the class names"),
    ("@timeStamps true\n@data\n(1,2),(x,3)\n", r"timestamp 'x' is neither"),
    ("@timeStamps true\n@data\n(1,2),(3\n", r"\(time,value\) pairs"),
    ("@data\n\n", r"no series after '@data'"),
])
def test_malformed_files_name_the_problem(text, match):
    with pytest.raises(TsFormatError, match=match):
        parse_ts(text, source="bad.ts")


def test_format_ts_refuses_mixed_channel_counts():
    with pytest.raises(ValueError, match="same K"):
        format_ts([np.zeros((2, 1)), np.zeros((2, 2))])


def test_dates_and_csv_cells():
    assert parse_datetime("1970-01-02") == 86400.0
    assert parse_datetime("2014/5/1 1:30") == parse_datetime("2014-05-01 01:30:00")
    assert parse_datetime("1970-01-01 00:04:40.015") == pytest.approx(280.015)
    with pytest.raises(ValueError, match="not a date"):
        parse_datetime("01.05.2014")
    table = parse_csv('"a","b"\n1,\n2,NaN\n3,4.5\n', "t.csv")
    np.testing.assert_array_equal(table.numbers(["b", "a"]), [[np.nan, 1], [np.nan, 2],
                                                             [4.5, 3]])
    with pytest.raises(ValueError, match=r"unknown column 'c'; the file has columns \['a', 'b'\]"):
        table.numbers(["c"])
    with pytest.raises(ValueError, match=r"t.csv, line 3: 1 fields, expected 2"):
        parse_csv("a,b\n1,2\n3\n", "t.csv")
    with pytest.raises(ValueError, match=r"row 2, column 'v': 'oops' is not a number"):
        to_float([["1"], ["oops"]], "f.csv", ["v"])


@pytest.mark.parametrize("text, header", [
    ("a,b,c,d\n1,,,\n,,,2\n\n3,4e-3,1,-1\r\n", True),  # empty fields: NumPy's parser
    ("a,b\n1,NA\nnull,2\n", True),  # other missing spellings: the csv-module path
    (",,\n1,2,3\n", False),
])
def test_numeric_csv_fast_path_equals_the_general_reader(text, header):
    columns, values = parse_numeric_csv(text, "n.csv", header=header)
    table = parse_csv(text, "n.csv", header=header)
    assert columns == table.columns
    np.testing.assert_array_equal(values, table.numbers(table.columns))
    with pytest.raises(ValueError, match=r"n.csv: row 2, column 'b': 'zz' is not a number"):
        parse_numeric_csv("a,b\n1,2\n3,zz\n", "n.csv")
