"""benchmarks/mutation_inproc.py: the in-process mutation runner gives the killed/survived
split one can work out by hand, on a tiny package written in the trampoline form mutmut
generates (mutmut is in the ``mutation`` extra, not ``dev``, so its generation step is
exercised only by the manual runs of docs/testing.md, not here)."""

import json
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from benchmarks import mutation_inproc as mi
from benchmarks import mutation_results as mr

REPO = Path(__file__).resolve().parents[2]

# The form of mutmut's output: each mutated function becomes a trampoline that calls the
# function named by MUTANT_UNDER_TEST ("<module>.x_<function>__mutmut_<n>") or the
# original ("..._mutmut_orig"), and raises when MUTANT_UNDER_TEST is "fail".
CALC = textwrap.dedent('''
    import os
    import time


    def x_above__mutmut_orig(x):
        return x > 2


    def x_above__mutmut_1(x):
        return x >= 2


    def x_above__mutmut_2(x):
        return x > 3


    def x_above__mutmut_3(x):
        return x < 2


    def x_above__mutmut_4(x):
        time.sleep(60)
        return x > 2


    def x_scale__mutmut_orig(x):
        return 2.0 * x


    def x_scale__mutmut_1(x):
        return 3.0 * x


    def x_scale__mutmut_2(x):
        return 2.0 * x + 0.0


    def _call(func, *args):
        name = os.environ.get("MUTANT_UNDER_TEST", "")
        if name == "fail":
            raise RuntimeError("forced failure")
        module, _, mutant = name.rpartition(".")
        if module != __name__ or not mutant.startswith(f"x_{func}__mutmut_"):
            mutant = f"x_{func}__mutmut_orig"
        return globals()[mutant](*args)


    def above(x):
        return _call("above", x)


    def scale(x):
        return _call("scale", x)
''')

TESTS = {
    # kills only x < 2 (above(5) false)
    "test_a.py": "from tinypkg import calc\n\n\ndef test_far():\n"
                 "    assert calc.above(5) and not calc.above(0)\n",
    # the edge: kills x >= 2 (above(2)) and x > 3 (above(3))
    "test_b.py": "from tinypkg import calc\n\n\ndef test_edge():\n"
                 "    assert not calc.above(2) and calc.above(3)\n",
    # a jit made at import keeps its trace between pytest sessions of one process: only
    # jax.clear_caches() per mutant lets the "fail" check and 3.0 * x be seen
    "test_jit.py": "import jax\nfrom tinypkg import calc\n\ng = jax.jit(calc.scale)\n\n\n"
                   "def test_scale():\n    assert float(g(1.5)) == 3.0\n",
    "test_none.py": "def test_nothing_mutated():\n    assert True\n",
}

ABOVE = [f"tinypkg.calc.x_above__mutmut_{i}" for i in (1, 2, 3, 4)]
SCALE = [f"tinypkg.calc.x_scale__mutmut_{i}" for i in (1, 2)]


def _workdir(tmp_path: Path) -> Path:
    work = tmp_path / "work"
    pkg = work / "mutants" / "tinypkg"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "calc.py").write_text(CALC)
    meta = {"exit_code_by_key": {n: None for n in ABOVE + SCALE}}
    (pkg / "calc.py.meta").write_text(json.dumps(meta))
    (work / "tests").mkdir()
    for name, text in TESTS.items():
        (work / "tests" / name).write_text(text)
    (work / "pyproject.toml").write_text("[tool.pytest.ini_options]\ntestpaths = ['tests']\n")
    return work


def _spec(work: Path, groups: dict, rules: list, timeout: float = 600) -> Path:
    path = work / "spec.json"
    path.write_text(json.dumps({"groups": groups, "mutants": rules, "timeout": timeout}))
    return path


def _run(work: Path, spec: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(REPO))
    env.pop("MUTANT_UNDER_TEST", None)
    return subprocess.run([sys.executable, "-m", "benchmarks.mutation_inproc", "run",
                           str(work), "--spec", str(spec), "--out", str(out), *extra],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def _records(out: Path) -> dict:
    return {r["name"]: r for r in map(json.loads, out.read_text().splitlines())}


def test_run_and_tally_give_the_split_worked_out_by_hand(tmp_path):
    work = _workdir(tmp_path)
    # "empty" is skipped (pytest given no ids would run every test, test_none.py too)
    spec = _spec(work, {"a": ["tests/test_a.py"], "b": ["tests/test_b.py::test_edge"],
                        "jit": ["tests/test_jit.py"], "empty": []},
                 [["*x_above__mutmut_4", ["a"]], ["*x_above__*", ["empty", "a", "b"]],
                  ["*x_scale__*", ["jit"]]], timeout=3)
    out = tmp_path / "res.jsonl"
    # resumable: a line already there is not run again (this one is deliberately wrong)
    out.write_text(json.dumps({"name": SCALE[1], "status": "killed", "group": "x",
                               "test": None, "seconds": 0}) + "\n")
    proc = _run(work, spec, out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rec = _records(out)
    assert sorted(rec) == sorted(ABOVE + SCALE)
    got = {n: (r["status"], r["group"]) for n, r in rec.items()}
    assert got == {ABOVE[0]: ("killed", "b"), ABOVE[1]: ("killed", "b"),
                   ABOVE[2]: ("killed", "a"), ABOVE[3]: ("timeout", "a"),
                   SCALE[0]: ("killed", "jit"), SCALE[1]: ("killed", "x")}
    assert rec[ABOVE[2]]["test"] == "tests/test_a.py::test_far"
    assert rec[ABOVE[0]]["test"] == "tests/test_b.py::test_edge"
    # the cap is 3 s: the 60 s sleep is cut there (generous upper end for a loaded machine)
    assert 3.0 <= rec[ABOVE[3]]["seconds"] < 30.0

    # the wrong line replaced by a fresh run of that one mutant: the equivalent one survives
    out2 = tmp_path / "res2.jsonl"
    proc = _run(work, spec, out2, "--only", "*x_scale__mutmut_2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list(_records(out2)) == [SCALE[1]]
    assert _records(out2)[SCALE[1]]["status"] == "survived"

    t = mr.tally([out, out2])  # the later file's line wins
    assert t["per_file"] == {"tinypkg.calc": {"run": 6, "killed": 4, "survived": 1,
                                              "timeout": 1}}
    assert t["per_function"]["tinypkg.calc.above"] == {"run": 4, "killed": 3, "timeout": 1}
    assert t["per_function"]["tinypkg.calc.scale"] == {"run": 2, "killed": 1, "survived": 1}
    assert t["killed_by_group"] == {"tinypkg.calc": {"b": 2, "a": 1, "jit": 1}}
    assert t["survived"] == [SCALE[1]] and t["timeout"] == [ABOVE[3]]


def test_sanity_run_refuses_a_group_that_calls_no_mutated_code(tmp_path):
    work = _workdir(tmp_path)
    spec = _spec(work, {"a": ["tests/test_a.py"], "none": ["tests/test_none.py"]},
                 [["*", ["a", "none"]]])
    proc = _run(work, spec, tmp_path / "res.jsonl")
    assert proc.returncode != 0
    assert "group 'none' does not fail with MUTANT_UNDER_TEST=fail" in proc.stderr
    assert not (tmp_path / "res.jsonl").exists()


def test_sanity_run_refuses_a_group_that_fails_unmutated(tmp_path):
    work = _workdir(tmp_path)
    (work / "tests" / "test_bad.py").write_text(
        "from tinypkg import calc\n\n\ndef test_wrong():\n    assert calc.above(1)\n")
    spec = _spec(work, {"bad": ["tests/test_bad.py"]}, [["*", ["bad"]]])
    proc = _run(work, spec, tmp_path / "res.jsonl")
    assert proc.returncode != 0
    assert ("group 'bad' fails with no mutant set (pytest exit code 1, first failure "
            "tests/test_bad.py::test_wrong)") in proc.stderr


def test_spec_and_names_are_checked(tmp_path):
    work = _workdir(tmp_path)
    assert mi.list_mutants(work) == ABOVE + SCALE
    assert mi.list_mutants(work, "*scale*") == SCALE
    spec = _spec(work, {"a": []}, [["*", ["a", "b"]]])
    with pytest.raises(SystemExit, match=r"rule '\*' names unknown group\(s\) \['b'\]; "
                                         r"valid: \['a'\]"):
        mi._load_spec(spec)
    assert mr.split_name("diffax.samplers.dpm_solver.x_dpm_solver__mutmut_12") == \
        ("diffax.samplers.dpm_solver", "dpm_solver", 12)
    assert mr.split_name("a.b.xǁSolverǁstep__mutmut_3") == ("a.b", "Solver.step", 3)
    with pytest.raises(ValueError, match="not a mutmut mutant name: 'a.b.solve'"):
        mr.split_name("a.b.solve")


def test_show_prints_the_mutated_line(tmp_path):
    work = _workdir(tmp_path)
    diff = mr.show(work, ABOVE[0]).splitlines()
    assert [ln for ln in diff if ln[:1] in "+-" and ln[:3] not in ("---", "+++")] == \
        ["-    return x > 2", "+    return x >= 2"]


def test_pyproject_mutates_only_the_given_files():
    conf = tomllib.loads(mi._pyproject("samplers", ["dpm_solver.py", "dpm_solver_pp.py"]))
    assert conf["tool"]["mutmut"] == {
        "source_paths": ["diffax/"],
        "only_mutate": ["diffax/samplers/dpm_solver.py", "diffax/samplers/dpm_solver_pp.py"],
        "pytest_add_cli_args_test_selection": ["tests/samplers"]}
    # the rest of the repository's pyproject.toml (pytest's settings) is kept
    assert conf["tool"]["pytest"] == tomllib.loads(
        (REPO / "pyproject.toml").read_text())["tool"]["pytest"]


def test_spec_builder_splits_by_measured_time(tmp_path):
    from benchmarks import mutation_spec as ms

    text = ("============ slowest durations ============\n"
            "2.50s call     t.py::slow_a\n0.40s setup    t.py::slow_a\n"
            "0.70s call     t.py::fast_b\n0.20s teardown t.py::fast_b\n"
            "1.50s call     t.py::slow_c\n6.00s call     t.py::slow_d\n"
            "(12 durations < 0.005s hidden.  Use -vv to show these durations.)\n")
    seconds = ms.parse_durations(text)
    assert seconds == pytest.approx({"t.py::slow_a": 2.9, "t.py::fast_b": 0.9,
                                     "t.py::slow_c": 1.5, "t.py::slow_d": 6.0}, rel=1e-12)
    ids = ["t.py::slow_a", "t.py::unlisted", "t.py::fast_b", "t.py::slow_c", "t.py::slow_d"]
    # fast: <= 1 s in the given order (an unlisted id took under 5 ms); slow: fastest
    # first while the sum stays <= 5 s (1.5 + 2.9 = 4.4; adding 6.0 would pass the cap)
    assert ms.split(ids, seconds, 1.0, 5.0) == (["t.py::unlisted", "t.py::fast_b"],
                                                ["t.py::slow_c", "t.py::slow_a"])
    dur, idf, spec = tmp_path / "d.txt", tmp_path / "ids.txt", tmp_path / "spec.json"
    dur.write_text(text)
    idf.write_text("\n".join(ids) + "\n\n5 tests collected\n")
    ms.main([str(spec), "--durations", str(dur), "--ids", str(idf), "--prefix", "m",
             "--mutants", "pkg.a.*", "--new", "t_new.py", "--order", "new,fast,slow",
             "--slow-cap", "5", "--exclude", "unlisted"])
    ms.main([str(spec), "--durations", str(dur), "--ids", str(idf), "--prefix", "n",
             "--mutants", "pkg.b.*", "--slow-cap", "0"])
    got = json.loads(spec.read_text())
    assert got["groups"] == {"m_new": ["t_new.py"], "m_fast": ["t.py::fast_b"],
                             "m_slow": ["t.py::slow_c", "t.py::slow_a"],
                             "n_fast": ["t.py::unlisted", "t.py::fast_b"]}
    assert got["mutants"] == [["pkg.a.*", ["m_new", "m_fast", "m_slow"]],
                              ["pkg.b.*", ["n_fast"]]]  # the empty slow group left out
