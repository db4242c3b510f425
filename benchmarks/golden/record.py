"""Computing a golden recording: run the selected cases (x64 on, each case with its own
x64 flag) and describe what the result depends on (versions, machine, commit, the
problems' settings) in its metadata."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from benchmarks.golden import inverse, samplers, train
from benchmarks.golden.cases import (all_cases, case_selected, check_patterns_matched,
                                     entry_selected, group_counts, select_cases)
from benchmarks.golden.common import (BATCH, NFE_BUDGETS, SEED_DATA, SEED_LOSS, SEED_PRIOR,
                                      SEED_SAMPLER, Arrays, Problems, x64_enabled)

FORMAT_VERSION = 1
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _git(*args: str) -> str | None:
    """The output of ``git args`` in the repository, or None if git fails."""
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def _cpu() -> dict:
    """The CPU model, its AVX / FMA / SSE4 flags and the CPU count."""
    model, flags = platform.processor() or platform.machine(), []
    try:
        with open("/proc/cpuinfo") as f:
            lines = f.read().splitlines()
        model = next((ln.split(":", 1)[1].strip() for ln in lines
                      if ln.startswith("model name")), model)
        flag_line = next((ln.split(":", 1)[1].split() for ln in lines
                          if ln.startswith("flags")), [])
        flags = sorted(f for f in flag_line if f.startswith(("avx", "fma", "sse4")))
    except OSError:
        pass
    return {"cpu_model": model, "cpu_simd_flags": flags, "cpu_count": os.cpu_count()}


def environment() -> dict:
    """Versions, machine, commit and date: what a recording depends on."""
    import jax
    import jaxlib
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {"jax": jax.__version__, "jaxlib": jaxlib.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "platform": jax.devices()[0].platform,
            "device_kind": jax.devices()[0].device_kind, "device_count": jax.device_count(),
            "xla_flags": os.environ.get("XLA_FLAGS", ""), **_cpu(),
            "git_commit": _git("rev-parse", "HEAD"),
            "git_dirty_files": dirty.splitlines() if dirty else [],
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}


def _settings() -> dict[str, Any]:
    """The fixed problems' sizes, seeds and options, for the metadata."""
    return {"batch": BATCH, "nfe_budgets": list(NFE_BUDGETS),
            "nfe_budgets_for": {k: list(v) for k, v in samplers.NFE_BUDGETS_FOR.items()},
            "seeds": {"prior": SEED_PRIOR, "sampler": SEED_SAMPLER,
                      "data": SEED_DATA, "loss": SEED_LOSS},
            "sampler_problem": "2-D 3-component mixture, VPLinear, exact eps "
                               "model, uniform_log_snr grid",
            "train_steps": train.TRAIN_STEPS, "train_configs": train.TRAIN_CONFIGS,
            "inverse": {"dim": inverse.INVERSE_DIM, "sigma_y": inverse.INVERSE_SIGMA_Y,
                        "steps": inverse.INVERSE_STEPS, "methods": inverse.INVERSE_METHODS}}


def compute(patterns: Sequence[str] | None = None, *, strict: bool = True,
            verbose: bool = False) -> tuple[Arrays, dict]:
    """Compute the entries selected by ``patterns`` (None: all).

    Returns ``(entries, meta)``. With ``strict`` a failing computation raises (naming
    the case); otherwise it is listed in ``meta["errors"]`` and its entries are absent.
    """
    skipped: list[dict] = []
    with x64_enabled(True):
        cases = all_cases(Problems(), skipped)
        selected = select_cases(cases, patterns)
        entries: Arrays = {}
        errors: list[dict] = []
        group_wall: dict[str, float] = {}
        for case in selected:
            t0 = time.perf_counter()
            try:
                with x64_enabled(case.x64):
                    out = case.run()
            except Exception as err:  # noqa: BLE001 - reported with the case's name
                if strict:
                    raise RuntimeError(f"benchmarks.golden: computing {case.prefix!r} failed: "
                                       f"{type(err).__name__}: {err}") from err
                errors.append({"case": case.prefix, "error": f"{type(err).__name__}: {err}"[:500]})
                out = {}
            for name, value in out.items():
                if not name.startswith(case.prefix + "/"):
                    raise ValueError(f"benchmarks.golden: case {case.prefix!r} returned entry "
                                     f"{name!r} outside its prefix.")
                if name in entries:
                    raise ValueError(f"benchmarks.golden: entry {name!r} computed twice.")
                if entry_selected(name, patterns):
                    entries[name] = value
            wall = time.perf_counter() - t0
            group_wall[case.group] = group_wall.get(case.group, 0.0) + wall
            if verbose:
                print(f"  {case.prefix}: {len(out)} entries, {wall:.2f} s", flush=True)
        check_patterns_matched(entries, patterns, cases)
        meta = {"format_version": FORMAT_VERSION, **environment(), "x64": True,
                "train_dtype": "float32 (x64 off, as the runner runs by default)",
                "only": list(patterns or []),
                "settings": _settings(),
                "skipped": [s for s in skipped if case_selected(s["case"], patterns)],
                "errors": errors,
                "group_wall_s": {g: round(w, 2) for g, w in group_wall.items()},
                "group_entries": group_counts(entries)}
    return entries, meta
