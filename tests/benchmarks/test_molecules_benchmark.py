"""benchmarks/molecules: the data rows (EDM's metrics of g2's own splits, the reference
of docs/molecules.md) and the printed table."""

import pytest

from benchmarks import molecules as bench
from experiments import runner


def test_data_rows_match_the_documented_reference():
    rows = bench.data_scores(runner.load_config("configs/molecules/g2.py"))
    train, test = rows
    assert (train["source"], train["num_molecules"]) == ("data (train)", 130)
    assert (test["source"], test["num_molecules"]) == ("data (test)", 16)
    # deterministic: counts over 130 molecules / 16 molecules (docs/molecules.md)
    assert train["atom_stability"] == pytest.approx(0.881, abs=5e-4)
    assert train["molecule_stability"] == pytest.approx(72 / 130)
    assert test["molecule_stability"] == pytest.approx(6 / 16)
    assert test["validity"] == pytest.approx(15 / 16)
    text = bench.table(rows)
    assert text.splitlines()[2].startswith("| data (train) | 130 | 0.881 | 0.554 |")
    assert len(text.splitlines()) == 4
