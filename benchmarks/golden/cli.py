"""The command line ``python -m benchmarks.golden record|compare|list``; exit status 0
when all is well, 1 when a comparison fails, 2 for bad arguments."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import benchmarks.golden
from benchmarks.golden.cases import (check_patterns_matched, entry_selected, group_counts,
                                     list_cases, select_cases)
from benchmarks.golden.compare import (compare_entries, environment_notes, format_table,
                                       summarize)
from benchmarks.golden.record import compute
from benchmarks.golden.store import load, save


def _parser() -> argparse.ArgumentParser:
    """The argument parser of the three modes."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.golden",
                                description=benchmarks.golden.__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="mode", required=True)
    only_help = ("shell pattern on entry names (repeatable), e.g. 'sampler/ddim/*'; "
                 "default: everything (compare: the golden file's own --only)")
    r = sub.add_parser("record", help="compute the golden entries and write them")
    r.add_argument("--out", required=True, help="the .npz file to write")
    r.add_argument("--only", action="append", help=only_help)
    r.add_argument("--verbose", action="store_true", help="one line per computation")
    c = sub.add_parser("compare", help="recompute (or read --against) and compare")
    c.add_argument("golden", help="a .npz file written by record")
    c.add_argument("--only", action="append", help=only_help)
    c.add_argument("--rtol", type=float, default=1e-12,
                   help="relative tolerance on max(|golden|, tiny) (default 1e-12)")
    c.add_argument("--atol", type=float, default=0.0,
                   help="absolute tolerance accepted besides rtol (default 0)")
    c.add_argument("--against", help="compare with this recorded file instead of computing")
    c.add_argument("--show", choices=("all", "differing", "failing"), default="all",
                   help="which rows the table prints (default all)")
    c.add_argument("--verbose", action="store_true", help="one line per computation")
    ls = sub.add_parser("list", help="list the computations (entry prefixes), run nothing")
    ls.add_argument("--only", action="append", help=only_help)
    return p


def _record(args: argparse.Namespace) -> int:
    """``record``: compute the selected entries and write them to ``--out``."""
    t0 = time.perf_counter()
    entries, meta = compute(args.only, strict=True, verbose=args.verbose)
    meta["record_wall_s"] = round(time.perf_counter() - t0, 1)
    save(args.out, entries, meta)
    print(f"wrote {len(entries)} entries to {args.out} in {meta['record_wall_s']} s")
    for g, n in meta["group_entries"].items():
        print(f"  {g:<16} {n:6d} entries  {meta['group_wall_s'].get(g, 0.0):7.1f} s")
    if meta["skipped"]:
        print(f"  skipped {len(meta['skipped'])} unsupported combinations (listed in the "
              "metadata)")
    return 0


def _compare(args: argparse.Namespace) -> int:
    """``compare``: recompute (or read ``--against``) and compare with the golden file."""
    if not (args.rtol >= 0 and args.atol >= 0):
        raise ValueError(f"--rtol and --atol must be >= 0, got {args.rtol}, {args.atol}.")
    golden, gmeta = load(args.golden)
    patterns = args.only if args.only is not None else (gmeta.get("only") or None)
    if args.only is None and patterns:
        print(f"using the golden file's --only {patterns}")
    t0 = time.perf_counter()
    errors: dict[str, str] = {}
    if args.against:
        new, nmeta = load(args.against)
        new = {k: v for k, v in new.items() if entry_selected(k, patterns)}
        check_patterns_matched(list(new) + list(golden), patterns, list_cases())
    else:
        new, nmeta = compute(patterns, strict=False, verbose=args.verbose)
        errors = {e["case"]: e["error"] for e in nmeta["errors"]}
    golden = {k: v for k, v in golden.items() if entry_selected(k, patterns)}
    rows = compare_entries(golden, new, args.rtol, args.atol, errors)
    print(format_table(rows, args.show))
    for note in environment_notes(gmeta, nmeta):
        print(note)
    for prefix, err in errors.items():
        print(f"error computing {prefix}: {err}")
    text, ok = summarize(rows, args.rtol)
    print(text + f" (compare took {time.perf_counter() - t0:.1f} s)")
    if not ok:
        bad = [f"{r.name} [{r.status}]" for r in rows if r.status in ("FAIL", "MISSING", "NEW")]
        print("not matching: " + ", ".join(bad[:50]) + (" ..." if len(bad) > 50 else ""))
    return 0 if ok else 1


def _list(args: argparse.Namespace) -> int:
    """``list``: print the selected computations (entry prefixes), run nothing."""
    cases = select_cases(list_cases(), args.only)
    for c in cases:
        print(c.prefix + ("" if c.x64 else "  (float32)"))
    counts = group_counts(c.prefix for c in cases)
    print(f"{len(cases)} computations: " + ", ".join(f"{g} {n}" for g, n in counts.items()))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (0 ok, 1 mismatch, 2 error)."""
    args = _parser().parse_args(argv)
    try:
        return {"record": _record, "compare": _compare, "list": _list}[args.mode](args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
