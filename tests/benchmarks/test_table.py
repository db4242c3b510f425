"""benchmarks.table (the Markdown tables of docs/benchmarks.md) and
benchmarks.timeseries_samplers.table on fabricated JSON records: no training, no sampling."""

import json
import sys

import pytest

from benchmarks import table, timeseries_samplers

META = {"device": "cpu", "platform": "cpu", "jax": "0.0", "process": "ddpm",
        "schedule": "uniform_time", "reference": "dopri8", "batch_accuracy": 16,
        "batch_timing": 8}


def rec(problem, sampler, nfe, rmse=1e-2, budget=None, **extra):
    r = {"problem": problem, "sampler": sampler, "nfe": nfe, "steps": nfe,
         "rmse_to_exact": rmse, "sw2_to_data": 0.25}
    if budget is not None:
        r["nfe_budget"] = budget
    return {**r, **extra}


def write(tmp_path, records, meta=META):
    path = tmp_path / "samplers.json"
    path.write_text(json.dumps({"meta": meta, "records": records}))
    return str(path)


def rows(text, problem):
    """The table rows of ``problem`` as lists of cells (header first)."""
    lines = text.splitlines()
    start = lines.index(next(s for s in lines if s.startswith(f"### {problem}:")))
    out = []
    for s in lines[start + 2:]:
        if not s.startswith("|"):
            break
        if not s.startswith("|---"):
            out.append([c.strip() for c in s.strip("|").split("|")])
    return out


def test_budget_is_stored_or_inferred():
    assert table._budget({"nfe_budget": 10, "nfe": 9}, [5, 10]) == 10
    # older records: the smallest budget that holds the NFE used
    assert table._budget({"nfe": 9}, [5, 10, 20]) == 10
    assert table._budget({"nfe": 10}, [5, 10, 20]) == 10
    assert table._budget({"nfe": 30}, [5, 10, 20]) is None
    assert table._budget({"error": "x"}, [5, 10]) is None


def test_cells_name_the_nfe_used_errors_and_stochastic_samplers():
    assert table._cell(None, 5) == "-"
    assert table._cell({"error": "boom"}, 5) == "error"
    assert table._cell(rec("gmm2d", "euler", 10, 3.8e-2), 10) == "3.80e-02"
    assert table._cell(rec("gmm2d", "heun", 9, 3.82e-2), 10) == "3.82e-02 @9"
    assert table._cell(rec("gmm2d", "sde", 10, None), 10) == "(0.250)"


def test_sampler_table_layout(tmp_path):
    records = [
        rec("gmm16d", "euler", 5, 2e-1, budget=5), rec("gmm16d", "euler", 10, 1e-1, budget=10),
        rec("gmm2d", "euler", 5, 5e-2, budget=5),
        rec("gmm2d", "euler", 10, 2.5e-2, budget=10, median_err_to_exact=1.5e-2,
            mode_flip_rate=0.125, overhead_ratio=1.5, scan_ratio=1.25),
        rec("gmm2d", "euler", 20, 1e-2, budget=20, median_err_to_exact=5e-3,
            mode_flip_rate=0.0625, overhead_ratio=2.5, scan_ratio=1.75),
        rec("gmm2d", "heun", 9, 3e-3, budget=10),  # 2 NFE per step: 9 of the budget 10
        rec("gmm2d", "ancestral", 20, None, budget=20),
        {"problem": "gmm2d", "sampler": "broken", "steps": 3, "nfe": None, "nfe_budget": 5,
         "error": "FloatingPointError: " + "x" * 200},
    ]
    text = table.sampler_table(write(tmp_path, records), [5, 10, 20, 50])
    assert text.splitlines()[0] == (
        "Device: cpu (cpu), jax 0.0, process ddpm, schedule uniform_time, reference dopri8, "
        "accuracy batch 16, timing batch 8.")
    # problems in order of dimension (2 before 16), budgets without records left out
    assert [s for s in text.splitlines() if s.startswith("###")] == [
        "### gmm2d: RMSE to the exact PF-ODE endpoint (stochastic: sliced-W2 to data, in "
        "brackets)", "### gmm16d: RMSE to the exact PF-ODE endpoint (stochastic: sliced-W2 "
        "to data, in brackets)"]
    assert rows(text, "gmm2d") == [
        ["sampler", "NFE 5", "NFE 10", "NFE 20", "median err @20", "mode flips @20",
         "overhead ratio (mean)", "scan ratio (mean)"],
        ["ancestral", "-", "-", "(0.250)", "-", "-", "-", "-"],
        ["broken", "error", "-", "-", "-", "-", "-", "-"],
        ["euler", "5.00e-02", "2.50e-02", "1.00e-02", "5.00e-03", "0.062", "2.000", "1.500"],
        ["heun", "-", "3.00e-03 @9", "-", "-", "-", "-", "-"]]
    # no median or timing fields in that problem: no such columns
    assert rows(text, "gmm16d") == [["sampler", "NFE 5", "NFE 10"],
                                    ["euler", "2.00e-01", "1.00e-01"]]
    last = text.splitlines()[-1]
    assert last == "1 runs failed: gmm2d/broken/3 steps: FloatingPointError: " + "x" * 60


def test_main_renders_a_sampler_json_or_dispatches_a_training_json(tmp_path, monkeypatch,
                                                                   capsys):
    path = write(tmp_path, [rec("gmm2d", "euler", 5, 5e-2, budget=5),
                            rec("gmm2d", "euler", 8, 4e-2, budget=8)])
    monkeypatch.setattr(sys, "argv", ["table", path, "--budgets", "5,8"])
    table.main()
    assert rows(capsys.readouterr().out, "gmm2d") == [["sampler", "NFE 5", "NFE 8"],
                                                      ["euler", "5.00e-02", "4.00e-02"]]
    from benchmarks import training

    blob = {"meta": {}, "records": [{"mfu": 0.4, "network": "unet"}]}
    train_path = tmp_path / "training.json"
    train_path.write_text(json.dumps(blob))
    seen = []
    monkeypatch.setattr(training, "training_table", lambda b: seen.append(b) or "MFU TABLE")
    monkeypatch.setattr(sys, "argv", ["table", str(train_path)])
    table.main()
    assert capsys.readouterr().out == "MFU TABLE\n" and seen == [blob]


def ts_rec(sampler, nfe, crps, adaptive=False):
    return {"sampler": sampler, "nfe": nfe, "adaptive": adaptive, "crps": crps,
            "mae": 2 * crps, "rmse": 3 * crps, "imputations_per_s": 1234.5,
            "baselines": {"mean": {"crps": 0.5, "mae": 0.6, "rmse": 0.7},
                          "linear_interpolation": {"crps": 0.25, "mae": 0.3, "rmse": 0.35}}}


def test_timeseries_table_sorts_by_crps_and_lists_the_baselines():
    text = timeseries_samplers.table([ts_rec("euler", 10, 0.2), ts_rec("heun", 10, 0.1),
                                      ts_rec("dpm_solver_adaptive_12", 14, 0.15, True)])
    assert text.splitlines()[2:] == [
        "| heun | 10 | 0.1 | 0.2 | 0.3 | 1.23e+03 |",
        "| dpm_solver_adaptive_12 | 14 (adaptive) | 0.15 | 0.3 | 0.45 | 1.23e+03 |",
        "| euler | 10 | 0.2 | 0.4 | 0.6 | 1.23e+03 |",
        "| baseline linear_interpolation | - | 0.25 | 0.3 | 0.35 | - |",
        "| baseline mean | - | 0.5 | 0.6 | 0.7 | - |"]
    assert timeseries_samplers.table([]).count("\n") == 1  # the header only


@pytest.mark.parametrize("records", [[], [ts_rec("euler", 10, 0.2)]])
def test_timeseries_plot_writes_a_png(records, tmp_path):
    path = tmp_path / "plot.png"
    timeseries_samplers.plot(records, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
