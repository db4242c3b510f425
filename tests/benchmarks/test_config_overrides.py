"""benchmarks.config_overrides: key=value overrides of a config."""

import ml_collections
import pytest

from benchmarks.config_overrides import apply_overrides


def _config():
    return ml_collections.ConfigDict({"task": {"scaling": "none", "missing_rate": 0.5},
                                      "eval": {"nfes": (20,), "draws": 8}})


def test_values_are_read_as_literals_where_they_are_and_strings_otherwise():
    c = apply_overrides(_config(), ["task.scaling=mean", "task.missing_rate=0.9",
                                    "eval.nfes=(10, 20)", "eval.draws=16"])
    assert c.task.scaling == "mean" and c.task.missing_rate == 0.9
    assert tuple(c.eval.nfes) == (10, 20) and c.eval.draws == 16


@pytest.mark.parametrize("item, match", [
    ("task.scalng=mean", r"no 'task.scalng'; valid keys there: \['missing_rate', 'scaling'\]"),
    ("tsk.scaling=mean", r"no 'tsk'; valid keys there: \['eval', 'task'\]"),
    ("task.scaling", "expected key=value"),
])
def test_bad_overrides_name_the_key_and_the_valid_ones(item, match):
    with pytest.raises(ValueError, match=match):
        apply_overrides(_config(), [item])
