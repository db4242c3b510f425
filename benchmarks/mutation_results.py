"""Reading the results of :mod:`benchmarks.mutation_inproc`: mutant names, the tally of a
run's JSON lines (per file, per function, kills per group, survivors and timeouts) and a
mutant's diff against its original function (read from mutmut's trampolined copy).

Used by ``python -m benchmarks.mutation_inproc tally|show``; needs neither mutmut nor JAX.
"""

from __future__ import annotations

import ast
import difflib
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

MUTANT_RE = re.compile(r"^(?P<module>.+)\.(?P<func>x_\w+?|xǁ\w+ǁ\w+?)__mutmut_(?P<n>\d+)$")


def split_name(name: str) -> tuple[str, str, int]:
    """``pkg.mod.x_func__mutmut_3`` -> ("pkg.mod", "func", 3)."""
    m = MUTANT_RE.match(name)
    if m is None:
        raise ValueError(f"not a mutmut mutant name: {name!r} (expected "
                         "'<module>.x_<function>__mutmut_<n>')")
    func = m["func"]
    func = func[2:].replace("ǁ", ".")
    return m["module"], func, int(m["n"])


def tally(paths: list[Path]) -> dict:
    """Counts per file and per function, kills per group, survivors and timeouts."""
    last: dict[str, dict] = {}
    for path in paths:
        for line in Path(path).read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                last[rec["name"]] = rec
    per_file: dict[str, Counter] = defaultdict(Counter)
    per_func: dict[str, Counter] = defaultdict(Counter)
    by_group: dict[str, Counter] = defaultdict(Counter)
    survivors, timeouts = [], []
    for name, rec in last.items():
        module, func, _ = split_name(name)
        for c in (per_file[module], per_func[f"{module}.{func}"]):
            c[rec["status"]] += 1
            c["run"] += 1
        if rec["status"] == "killed":
            by_group[module][rec["group"]] += 1
        elif rec["status"] == "survived":
            survivors.append(name)
        else:
            timeouts.append(name)
    key = lambda n: (split_name(n)[0], split_name(n)[1], split_name(n)[2])  # noqa: E731
    return {"per_file": {k: dict(v) for k, v in per_file.items()},
            "per_function": {k: dict(v) for k, v in per_func.items()},
            "killed_by_group": {k: dict(v) for k, v in by_group.items()},
            "survived": sorted(survivors, key=key), "timeout": sorted(timeouts, key=key)}


def print_tally(t: dict) -> None:
    print(f"{'file / function':60s} {'run':>5s} {'killed':>7s} {'surv.':>6s} {'t/o':>4s}")
    for module, c in sorted(t["per_file"].items()):
        print(f"{module:60s} {c['run']:5d} {c.get('killed', 0):7d} "
              f"{c.get('survived', 0):6d} {c.get('timeout', 0):4d}   killed by group: "
              f"{t['killed_by_group'].get(module, {})}")
        for fn, d in sorted(t["per_function"].items()):
            if fn.startswith(module + "."):
                print(f"  {fn[len(module) + 1:]:58s} {d['run']:5d} {d.get('killed', 0):7d} "
                      f"{d.get('survived', 0):6d} {d.get('timeout', 0):4d}")
    for kind in ("survived", "timeout"):
        print(f"{kind} ({len(t[kind])}):")
        for n in t[kind]:
            print("  " + n)


def _function_source(tree: ast.Module, source: str, name: str) -> str:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return ast.get_source_segment(source, node, padded=True).rstrip("\n") + "\n"
    raise KeyError(name)


def show(workdir: Path, name: str) -> str:
    """Unified diff of the original and the mutated function of mutant ``name``."""
    module, _, _ = split_name(name)
    path = workdir / "mutants" / (module.replace(".", "/") + ".py")
    source = path.read_text()
    tree = ast.parse(source)
    mutant = name.rpartition(".")[2]
    orig = mutant.rpartition("__mutmut_")[0] + "__mutmut_orig"
    a = _function_source(tree, source, orig).replace(orig, "ORIG")
    b = _function_source(tree, source, mutant).replace(mutant, "ORIG")
    return "".join(difflib.unified_diff(a.splitlines(True), b.splitlines(True),
                                        f"{path} (original)", f"{path} ({mutant})"))


__all__ = ["MUTANT_RE", "print_tally", "show", "split_name", "tally"]
