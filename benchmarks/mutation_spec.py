"""Build a spec for :mod:`benchmarks.mutation_inproc` from one timed run of the earlier tests.

The earlier tests of a module are split by their measured time (setup + call + teardown,
from ``pytest --durations=0``) into a fast group (at most ``--fast-max`` seconds each, all
of them) and a slow group capped at ``--slow-cap`` seconds in all, fastest first (a
survivor runs every test of its groups, so an uncapped slow group would cost minutes per
survivor). Each call adds the groups ``<prefix>_fast``, ``<prefix>_slow`` and, with
``--new``, ``<prefix>_new`` to the spec file and one rule for ``--mutants``, in the order
``--order`` (default ``fast,new,slow``: the earlier tests first, so that "killed by the
earlier tests" is measured; ``new,fast,slow`` is cheaper when the new file kills most).

    pytest -p no:xdist --durations=0 FILES > durations.txt
    pytest --collect-only -q FILES | grep :: > ids.txt
    python -m benchmarks.mutation_spec SPEC.json --durations durations.txt --ids ids.txt \\
        --prefix eng --mutants 'diffax.samplers.dpm_solver_engine.*' \\
        --new tests/samplers/test_dpm_solver_engine_mutants.py [--exclude REGEX ...]

Test ids without a line in the durations file took under pytest's 5 ms display limit.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

_LINE = re.compile(r"^\s*([\d.]+)s (?:setup|call|teardown)\s+(\S+)\s*$")


def parse_durations(text: str) -> dict[str, float]:
    """Seconds per test id (setup + call + teardown) from ``--durations=0`` output."""
    total: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            total[m[2]] += float(m[1])
    return dict(total)


def split(ids: list[str], seconds: dict[str, float], fast_max: float,
          slow_cap: float) -> tuple[list[str], list[str]]:
    """(fast ids in the given order, the fastest slow ids whose sum stays <= slow_cap)."""
    fast = [i for i in ids if seconds.get(i, 0.0) <= fast_max]
    slow = sorted((i for i in ids if seconds.get(i, 0.0) > fast_max), key=seconds.get)
    capped, used = [], 0.0
    for i in slow:
        if used + seconds[i] > slow_cap:
            break
        capped.append(i)
        used += seconds[i]
    return fast, capped


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("spec", type=Path, help="created, or extended if it exists")
    p.add_argument("--durations", type=Path, required=True)
    p.add_argument("--ids", type=Path, required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--mutants", required=True, help="glob of the mutant names")
    p.add_argument("--new", help="the new test file (group <prefix>_new)")
    p.add_argument("--exclude", action="append", default=[],
                   help="drop the test ids matching this regular expression")
    p.add_argument("--order", default="fast,new,slow")
    p.add_argument("--fast-max", type=float, default=1.0)
    p.add_argument("--slow-cap", type=float, default=12.0)
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant")
    a = p.parse_args(argv)
    seconds = parse_durations(a.durations.read_text())
    ids = [i.strip() for i in a.ids.read_text().splitlines() if "::" in i]
    ids = [i for i in ids if not any(re.search(x, i) for x in a.exclude)]
    spec = json.loads(a.spec.read_text()) if a.spec.exists() else {"groups": {},
                                                                   "mutants": []}
    fast, slow = split(ids, seconds, a.fast_max, a.slow_cap)
    groups = {"fast": fast, "slow": slow}
    if a.new:
        groups["new"] = [a.new]
    # an empty group is left out (pytest given no ids would run the whole test suite)
    order = [g for g in a.order.split(",") if groups.get(g)]
    for g in order:
        spec["groups"][f"{a.prefix}_{g}"] = groups[g]
    spec["mutants"].append([a.mutants, [f"{a.prefix}_{g}" for g in order]])
    spec["timeout"] = a.timeout
    a.spec.write_text(json.dumps(spec, indent=1) + "\n")
    for g in order:
        print(f"{a.prefix}_{g}: {len(groups[g])} ids, "
              f"{sum(seconds.get(i, 0.0) for i in groups[g]):.1f} s measured")


if __name__ == "__main__":
    main()
