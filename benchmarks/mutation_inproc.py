"""Mutation testing with every mutant's tests run in ONE Python process (docs/testing.md).

mutmut 3.8.1 (the ``mutation`` extra) generates the mutants; its own runner starts pytest
for every mutant, which for JAX means importing JAX and compiling every test program again
(10 to 60 s per mutant on a loaded 2-core machine). Here mutmut only generates, and one
process runs pytest in-process for each mutant:

``prepare WORKDIR --module samplers --files a.py,b.py``
    copies ``diffax/`` into WORKDIR, rewrites its registering decorators as calls
    (:mod:`benchmarks.mutation_prepare`; mutmut skips decorated functions), writes a
    ``pyproject.toml`` whose ``[tool.mutmut]`` mutates only ``diffax/<module>/<file>`` for
    the given files, links ``tests/`` to the repository's tests, and runs mutmut's
    generation step only (``create_mutants``; no test run), in a subprocess with WORKDIR as
    its working directory. It writes ``WORKDIR/mutants/`` (each mutated function replaced
    by a trampoline that calls the mutant named by the environment variable
    ``MUTANT_UNDER_TEST``, or the original) and prints the mutant names.
``list WORKDIR [--only GLOB]``
    the mutant names (from mutmut's ``*.meta`` files), e.g.
    ``diffax.samplers.dpm_solver_engine.x_solve__mutmut_3``.
``run WORKDIR --spec SPEC.json --out RESULTS.jsonl [--only GLOB]``
    one process with ``WORKDIR/mutants`` first on ``sys.path`` and WORKDIR as working
    directory (pytest's rootdir; test ids are ``tests/...::name``). First a sanity run:
    every group of the spec must pass with no mutant set and must fail with
    ``MUTANT_UNDER_TEST=fail`` (the trampolines then raise: the group calls mutated code),
    else it stops with a message naming the group. Then, for each mutant: set
    ``MUTANT_UNDER_TEST``, ``jax.clear_caches()`` (a trace made under another mutant must
    not be reused: a test's module-level ``jax.jit(f)`` survives between pytest sessions in
    one process), and ``pytest.main`` on the mutant's groups in order (``-x``, plugins
    xdist, cacheprovider, randomly, unraisableexception and threadexception off), stopping
    at the first failing group. A per-mutant wall limit (the spec's ``timeout``, default
    600 s; SIGALRM interrupts pytest) gives ``timeout``. One JSON line per mutant is
    appended: ``name, status`` (killed / survived / timeout), ``group`` and ``test`` (the
    first failing test id) of a kill, ``seconds``. Mutants already in RESULTS are skipped
    (resumable). JAX's persistent compilation cache goes to ``WORKDIR/jax-cache`` and
    keeps every program (``JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0``), so that after
    ``clear_caches`` the programs a mutant does not change are loaded, not compiled.
``tally RESULTS.jsonl [RESULTS2 ...]`` (:mod:`benchmarks.mutation_results`)
    counts per file and per function (a later line for the same mutant replaces an
    earlier one), kills per group, and the survivors' and timeouts' names.
``show WORKDIR NAME``
    the diff between the original and the mutated function (read from the mutated file).

SPEC (JSON)::

    {"groups": {"fast": ["tests/samplers/test_a.py::t1", ...], "new": [...], ...},
     "mutants": [["diffax.samplers.dpm_solver_engine.x_solve__*", ["fast", "new"]],
                 ["*", ["fast", "new", "slow"]]],
     "timeout": 600}

``mutants``: (glob, group names) rules; a mutant runs the groups of the first rule whose
glob matches its name; a mutant no rule matches is not run.

Limits: a mutant of code that runs at import (module level, a function called while a
module is imported) is invisible here, since the modules are imported once, before any
mutant is set; the sanity check cannot see this, so such mutants need a test that calls
the function itself. ``run`` does not need mutmut except through the trampolines, which
import it; ``tally``, ``show`` and ``list`` do not need it.
"""

from __future__ import annotations

import argparse
import fnmatch
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.mutation_results import print_tally, show, tally

REPO = Path(__file__).resolve().parent.parent
PYTEST_ARGS = ["-x", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:randomly",
               "-p", "no:unraisableexception", "-p", "no:threadexception", "--tb=short",
               "-rN", "--no-header"]


# ---- prepare -------------------------------------------------------------------------

def _pyproject(module: str, files: list[str]) -> str:
    """The repository's pyproject.toml with its ``[tool.mutmut]`` table replaced by one
    that mutates only ``diffax/<module>/<file>`` for ``files`` (everything else in
    ``diffax/`` is copied into ``mutants/`` unchanged)."""
    text = (REPO / "pyproject.toml").read_text()
    head = text.split("[tool.mutmut]")[0].rstrip()
    # the comment block just above [tool.mutmut] describes the Makefile's use: drop it
    head = re.sub(r"(\n#[^\n]*)+$", "", head)
    only = ", ".join(json.dumps(f"diffax/{module}/{f}") for f in files)
    return (head + "\n\n[tool.mutmut]\n"
            'source_paths = ["diffax/"]\n'
            f"only_mutate = [{only}]\n"
            f'pytest_add_cli_args_test_selection = ["tests/{module}"]\n')


_GENERATE = """
import sys
from mutmut.__main__ import create_mutants
from mutmut.utils.file_utils import copy_src_dir
from mutmut.mutation.trampoline import set_mutant_under_test
set_mutant_under_test("mutant_generation")
copy_src_dir()
print(create_mutants(1))
"""


def prepare(workdir: Path, module: str, files: list[str]) -> list[str]:
    """Make WORKDIR (module docstring) and return the mutant names."""
    from benchmarks.mutation_prepare import undecorate

    src = REPO / "diffax" / module
    missing = [f for f in files if not (src / f).is_file()]
    if missing:
        raise SystemExit(f"prepare: no such file(s) in diffax/{module}/: {missing}; "
                         f"valid: {sorted(p.name for p in src.glob('*.py'))}")
    workdir.mkdir(parents=True, exist_ok=True)
    for sub in ("diffax", "mutants"):
        shutil.rmtree(workdir / sub, ignore_errors=True)
    shutil.copytree(REPO / "diffax", workdir / "diffax",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for path in sorted((workdir / "diffax" / module).glob("*.py")):
        source = path.read_text()
        new = undecorate(source)
        if new != source:
            path.write_text(new)
    (workdir / "pyproject.toml").write_text(_pyproject(module, files))
    tests = workdir / "tests"
    if tests.is_symlink() or tests.exists():
        tests.unlink()
    tests.symlink_to(REPO / "tests")
    subprocess.run([sys.executable, "-c", _GENERATE], cwd=workdir, check=True)
    return list_mutants(workdir)


def list_mutants(workdir: Path, only: str | None = None) -> list[str]:
    """Mutant names from mutmut's ``mutants/**/*.py.meta`` files, in file order."""
    names = []
    for meta in sorted(glob.glob(str(workdir / "mutants" / "**" / "*.py.meta"),
                                 recursive=True)):
        with open(meta) as f:
            names += list(json.load(f)["exit_code_by_key"])
    return [n for n in names if only is None or fnmatch.fnmatchcase(n, only)]


# ---- run -----------------------------------------------------------------------------

class _Timeout(KeyboardInterrupt):
    """Raised by SIGALRM; a KeyboardInterrupt so that pytest stops rather than counting
    it as a test failure."""


class _Recorder:
    """pytest plugin: the first failing test (or collection) id of a session."""

    def __init__(self) -> None:
        self.failed: str | None = None

    def pytest_runtest_logreport(self, report) -> None:
        if report.failed and self.failed is None:
            self.failed = report.nodeid

    def pytest_collectreport(self, report) -> None:
        if report.failed and self.failed is None:
            self.failed = report.nodeid or "<collection>"


def _pytest(ids: list[str], deadline: float | None) -> tuple[int, str | None, bool]:
    """Run pytest in this process on ``ids``: (exit code, first failing id, timed out)."""
    import pytest

    rec = _Recorder()
    timed_out = False
    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            return 2, None, True
        signal.setitimer(signal.ITIMER_REAL, left)
    try:
        rc = int(pytest.main(PYTEST_ARGS + list(ids), plugins=[rec]))
    except _Timeout:
        rc, timed_out = 2, True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    # pytest turns the interrupt into exit code 2 itself; the flag says whose it was
    timed_out = timed_out or _ALARM["fired"]
    _ALARM["fired"] = False
    return rc, rec.failed, timed_out


_ALARM = {"fired": False}


def _on_alarm(signum, frame):
    _ALARM["fired"] = True
    raise _Timeout()


def _set_mutant(name: str) -> None:
    os.environ["MUTANT_UNDER_TEST"] = name
    jax = sys.modules.get("jax")
    if jax is not None:  # not yet imported before the first session (conftest sets XLA_FLAGS)
        jax.clear_caches()


def _groups_for(name: str, rules: list) -> list[str] | None:
    for pattern, groups in rules:
        if fnmatch.fnmatchcase(name, pattern):
            return list(groups)
    return None


def _load_spec(path: Path) -> dict:
    spec = json.loads(path.read_text())
    groups, rules = spec.get("groups"), spec.get("mutants")
    if not isinstance(groups, dict) or not isinstance(rules, list):
        raise SystemExit(f"{path}: a spec needs 'groups' (name -> test ids) and 'mutants' "
                         "([glob, [group names]] rules); see the module docstring")
    for pattern, names in rules:
        bad = [g for g in names if g not in groups]
        if bad:
            raise SystemExit(f"{path}: rule {pattern!r} names unknown group(s) {bad}; "
                             f"valid: {sorted(groups)}")
    return spec


def _done(out: Path) -> set[str]:
    if not out.exists():
        return set()
    return {json.loads(line)["name"] for line in out.read_text().splitlines() if line.strip()}


def _enter(workdir: Path) -> None:
    """Make WORKDIR the working directory and ``WORKDIR/mutants`` the first import path,
    and check that ``diffax`` would be imported from there."""
    import importlib.util

    mutants = str((workdir / "mutants").resolve())
    os.chdir(workdir)
    sys.path.insert(0, mutants)
    for pkg in {n.split(".")[0] for n in list_mutants(workdir)}:
        spec = importlib.util.find_spec(pkg)
        if spec is None or not str(spec.origin).startswith(mutants):
            raise SystemExit(f"run: {pkg} would be imported from {spec and spec.origin}, "
                             f"not from {mutants}")
    os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str((workdir / "jax-cache").resolve()))
    # every program, however quick to compile, goes to the persistent cache: after
    # jax.clear_caches() a mutant's tests load the programs its mutation did not change
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")


def run(workdir: Path, spec_path: Path, out: Path, only: str | None = None,
        log=print) -> None:
    """Run the mutants of WORKDIR against the spec's groups (module docstring)."""
    spec = _load_spec(spec_path)
    workdir, out = workdir.resolve(), out.resolve()
    groups, rules = spec["groups"], spec["mutants"]
    limit = float(spec.get("timeout", 600))
    names = list_mutants(workdir, only)
    # an empty group is skipped: pytest given no ids would run its whole testpaths
    todo = [(n, [g for g in gs if groups[g]]) for n in names
            if (gs := _groups_for(n, rules)) is not None]
    done = _done(out)
    _enter(workdir)
    signal.signal(signal.SIGALRM, _on_alarm)

    used = sorted({g for _, gs in todo for g in gs})
    for g in used:  # sanity: every group passes unmutated and sees the trampolines
        _set_mutant("")
        t0 = time.monotonic()
        rc, failed, _ = _pytest(groups[g], None)
        if rc != 0:
            raise SystemExit(f"run: group {g!r} fails with no mutant set (pytest exit code "
                             f"{rc}, first failure {failed}); fix it before running mutants")
        log(f"sanity: group {g!r} passes unmutated ({time.monotonic() - t0:.1f} s)")
        _set_mutant("fail")
        rc, failed, _ = _pytest(groups[g], None)
        if rc != 1:
            raise SystemExit(f"run: group {g!r} does not fail with MUTANT_UNDER_TEST=fail "
                             f"(pytest exit code {rc}): its tests call no mutated function")
    for pkg in {n.split(".")[0] for n in names}:
        mod = sys.modules.get(pkg)
        if mod is not None and not str(mod.__file__).startswith(str(Path("mutants").resolve())):
            raise SystemExit(f"run: the tests imported {mod.__file__}, not the mutants")

    for name, gs in todo:
        if name in done:
            continue
        _set_mutant(name)
        t0 = time.monotonic()
        deadline = t0 + limit
        rec = {"name": name, "status": "survived", "group": None, "test": None}
        for g in gs:
            rc, failed, timed_out = _pytest(groups[g], deadline)
            if timed_out:
                rec.update(status="timeout", group=g)
                break
            if rc != 0:  # 1: a test failed; 2: a collection error (or an interrupt)
                rec.update(status="killed", group=g, test=failed, rc=rc)
                break
        rec["seconds"] = round(time.monotonic() - t0, 2)
        with open(out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        log(f"{rec['status']:8s} {rec['seconds']:7.1f} s  {name}  {rec['group'] or ''}")
    _set_mutant("")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("prepare")
    a.add_argument("workdir", type=Path)
    a.add_argument("--module", required=True)
    a.add_argument("--files", required=True, help="comma-separated file names")
    a = sub.add_parser("list")
    a.add_argument("workdir", type=Path)
    a.add_argument("--only")
    a = sub.add_parser("run")
    a.add_argument("workdir", type=Path)
    a.add_argument("--spec", type=Path, required=True)
    a.add_argument("--out", type=Path, required=True)
    a.add_argument("--only", help="run only the mutants whose names match this glob")
    a = sub.add_parser("tally")
    a.add_argument("results", type=Path, nargs="+")
    a.add_argument("--json", action="store_true")
    a = sub.add_parser("show")
    a.add_argument("workdir", type=Path)
    a.add_argument("name")
    args = p.parse_args(argv)
    if args.cmd == "prepare":
        names = prepare(args.workdir, args.module, args.files.split(","))
        print("\n".join(names))
        print(f"{len(names)} mutants")
    elif args.cmd == "list":
        print("\n".join(list_mutants(args.workdir, args.only)))
    elif args.cmd == "run":
        run(args.workdir, args.spec, args.out, args.only,
            log=lambda s: print(s, file=sys.__stderr__, flush=True))
    elif args.cmd == "tally":
        t = tally(args.results)
        print(json.dumps(t, indent=1)) if args.json else print_tally(t)
    else:
        print(show(args.workdir, args.name))


if __name__ == "__main__":
    main()
