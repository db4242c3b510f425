"""benchmarks.golden: record a small subset, compare it with itself, and catch a
perturbed, a missing and a new entry; bad --only patterns; what a full recording covers.

The recorder runs in this process through ``main([...])``: it switches float64 on only
while it computes and restores the flag after (checked below).
"""

import fnmatch
import json
import math

import jax
import numpy as np
import pytest

from benchmarks.golden.cases import GROUPS, all_cases, case_selected
from benchmarks.golden.cli import main
from benchmarks.golden.common import BATCH, x64_enabled
from benchmarks.golden.compare import compare_arrays, compare_entries
from benchmarks.golden.store import load, save

SUBSET = ["--only", "sampler/ddim/nfe6/*", "--only", "sampler/euler_maruyama/nfe6/*",
          "--only", "loss/dsm/eps/snr/antithetic/vp_linear/*"]


@pytest.fixture(scope="module")
def golden(tmp_path_factory):
    """A recorded subset: two samplers (one stochastic) at NFE 6 and one loss."""
    path = str(tmp_path_factory.mktemp("golden") / "golden.npz")
    x64_before = jax.config.read("jax_enable_x64")
    assert main(["record", "--out", path, *SUBSET]) == 0
    assert jax.config.read("jax_enable_x64") == x64_before  # restored after recording
    return path


def _rewrite(src: str, dst: str, edit) -> None:
    entries, meta = load(src)
    edit(entries)
    save(dst, entries, meta)


def test_record_writes_the_selected_entries_in_float64_with_metadata(golden):
    entries, meta = load(golden)
    assert sorted(entries) == sorted(
        [f"sampler/{s}/nfe6/{k}" for s in ("ddim", "euler_maruyama") for k in ("nfe", "steps", "x")]
        + [f"loss/dsm/eps/snr/antithetic/vp_linear/{k}" for k in
           ("value", "aux/loss", "aux/loss_per_example", "aux/mse", "aux/t", "aux/weight")])
    assert entries["sampler/ddim/nfe6/x"].dtype == np.float64
    assert entries["sampler/ddim/nfe6/x"].shape == (BATCH, 2)
    assert int(entries["sampler/ddim/nfe6/nfe"]) == 6
    assert entries["loss/dsm/eps/snr/antithetic/vp_linear/aux/mse"].shape == (BATCH,)
    assert meta["x64"] is True and meta["only"] == SUBSET[1::2]
    for key in ("jax", "jaxlib", "cpu_model", "git_commit", "date", "train_dtype"):
        assert key in meta, key
    json.dumps(meta)  # plain JSON


def test_compare_with_a_fresh_computation_is_identical(golden, capsys):
    assert main(["compare", golden]) == 0  # the golden file's own --only by default
    out = capsys.readouterr().out
    assert "using the golden file's --only" in out
    assert "12 entries: 12 identical bitwise, 0 within rtol=1e-12 (not bitwise), 0 failing, " \
           "0 missing, 0 new -> PASS" in out
    assert "sampler/euler_maruyama/nfe6/x" in out and "identical" in out


def test_a_perturbed_entry_fails_and_is_named(golden, tmp_path, capsys):
    bad = str(tmp_path / "perturbed.npz")

    def edit(e):
        x = e["sampler/ddim/nfe6/x"].copy()
        x[3, 1] *= 1 + 1e-9  # far above rtol=1e-12, far below anything visible in a plot
        e["sampler/ddim/nfe6/x"] = x

    _rewrite(golden, bad, edit)
    assert main(["compare", bad, "--show", "failing"]) == 1
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("sampler/ddim/nfe6/x "))
    assert row.split()[-1] == "FAIL"
    assert "1 failing" in out and "not matching: sampler/ddim/nfe6/x [FAIL]" in out
    # a loose enough tolerance accepts it, and says it is not bitwise
    assert main(["compare", bad, "--against", golden, "--rtol", "1e-8"]) == 0
    assert "1 within rtol=1e-08 (not bitwise)" in capsys.readouterr().out


def test_missing_and_new_entries_fail_and_are_named(golden, tmp_path, capsys):
    extra = str(tmp_path / "extra.npz")  # the golden has an entry this tree does not compute
    _rewrite(golden, extra, lambda e: e.update({"sampler/ddim/nfe6/removed": np.zeros(2)}))
    assert main(["compare", extra, "--against", golden]) == 1
    out = capsys.readouterr().out
    assert "sampler/ddim/nfe6/removed [MISSING]" in out and "1 missing" in out

    fewer = str(tmp_path / "fewer.npz")  # this tree computes an entry the golden lacks
    _rewrite(golden, fewer, lambda e: e.pop("sampler/euler_maruyama/nfe6/x"))
    assert main(["compare", fewer, "--against", golden]) == 1
    out = capsys.readouterr().out
    assert "sampler/euler_maruyama/nfe6/x [NEW]" in out and "1 new" in out


@pytest.mark.parametrize("mode", ["record", "compare", "list"])
def test_a_pattern_that_matches_nothing_lists_the_groups(golden, tmp_path, capsys, mode):
    out_file = tmp_path / "never.npz"
    args = {"record": ["record", "--out", str(out_file)], "compare": ["compare", golden],
            "list": ["list"]}[mode]
    assert main([*args, "--only", "sampler/ddim/*", "--only", "samplr/ddim/*"]) == 2
    err = capsys.readouterr().err
    assert "--only 'samplr/ddim/*' matches no golden entry" in err
    for group in GROUPS:
        assert f"  {group}/ (" in err
    assert not out_file.exists()


def test_a_pattern_that_selects_a_case_but_no_entry_is_an_error(golden, capsys):
    assert main(["compare", golden, "--only", "sampler/ddim/nfe6/no_such_entry"]) == 2
    assert "'sampler/ddim/nfe6/no_such_entry' matches no golden entry" in capsys.readouterr().err


def test_case_selection_never_misses_an_entry_a_pattern_matches():
    entry = "sampler/ddim/nfe6/x"
    case = "sampler/ddim/nfe6"
    for pat in ["sampler/*", "sampler/ddim/nfe6/x", "sampler/dd*x", "*/ddim/*", "*x",
                "sampler/ddim/nfe6?x", "sampler/ddim/nfe6[/]x", "sampler/ddim/nfe[0-9]/*"]:
        assert fnmatch.fnmatchcase(entry, pat), pat
        assert case_selected(case, [pat]), pat
    for pat in ["loss/*", "sampler/ddim/nfe12/*", "sampler/ddim_eta1/*"]:
        assert not case_selected(case, [pat]), pat


def test_compare_arrays_statuses():
    g = np.array([1.0, -2.0, 0.0, np.nan, np.inf])
    assert compare_arrays("a", g, g.copy(), 1e-12).status == "identical"
    close = g.copy()
    close[1] = -2.0 * (1 + 1e-14)
    row = compare_arrays("a", g, close, 1e-12)
    assert row.status == "within_rtol" and 0 < row.rel_diff < 1e-13
    assert compare_arrays("a", g, close, 1e-15).status == "FAIL"
    tiny = g.copy()
    tiny[2] = 1e-300  # relative to max(|0|, tiny): any change of an exact zero fails ...
    assert compare_arrays("a", g, tiny, 1e-12).status == "FAIL"
    # ... unless --atol allows it
    assert compare_arrays("a", g, tiny, 1e-12, atol=1e-200).status == "within_rtol"
    moved_nan = g.copy()
    moved_nan[[0, 3]] = [np.nan, 1.0]
    assert compare_arrays("a", g, moved_nan, 1.0).note == "NaNs in other places"
    assert "dtype float64 -> float32" in compare_arrays("a", g, g.astype(np.float32), 1).note
    assert "shape (5,) -> (1, 5)" in compare_arrays("a", g, g[None], 1).note
    assert compare_arrays("n", np.int64(6), np.int64(7), 1e-12).status == "FAIL"
    assert math.isnan(compare_entries({"x": g}, {}, 1e-12)[0].abs_diff)


def test_a_full_recording_covers_every_registry():
    from diffax import inverse, losses, predictions, processes, samplers
    with x64_enabled(True):
        prefixes = {c.prefix for c in all_cases()}
    for name in samplers.SAMPLERS.names("gaussian"):  # golden cases: Gaussian family
        runs = [p for p in prefixes if p.startswith(f"sampler/{name}/")]
        assert len(runs) == 2, (name, runs)
    for kind in predictions.KINDS:
        for w in losses.WEIGHTINGS:
            for ts in losses.TIME_SAMPLERS:
                for proc in processes.PROCESSES.names("gaussian"):
                    assert f"loss/dsm/{kind}/{w}/{ts}/{proc}" in prefixes
    assert {"loss/edm/edm", "loss/ddpm_simple/ddpm_discrete"} <= prefixes
    for method in inverse.SOLVERS:
        assert any(p.startswith(f"inverse/{method}/") for p in prefixes), method
    assert {"train/gmm2d", "train/fashion_mnist_edm"} <= prefixes
    assert {p.split("/")[0] for p in prefixes} == set(GROUPS)
