"""Comparing golden entries: one :class:`Row` per entry (bitwise identical, within the
tolerance, failing, missing or new), the table, the counts line and the notes on a
machine or version that differs from the recording's."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

STATUSES = ("identical", "within_rtol", "FAIL", "MISSING", "NEW")


@dataclasses.dataclass(frozen=True)
class Row:
    """One compared entry: max abs / rel difference (NaN if not comparable) and status."""

    name: str
    abs_diff: float
    rel_diff: float
    status: str  # identical | within_rtol | FAIL | MISSING | NEW
    note: str = ""


def compare_arrays(name: str, golden: np.ndarray, new: np.ndarray, rtol: float,
                   atol: float = 0.0) -> Row:
    """Compare one entry. Bitwise equal (same dtype, shape and bytes) is ``identical``;
    otherwise each element must satisfy ``|new - golden| <= max(rtol * max(|golden|,
    tiny), atol)`` with NaN and infinities in the same places."""
    golden, new = np.asarray(golden), np.asarray(new)
    if golden.dtype != new.dtype:
        return Row(name, math.nan, math.nan, "FAIL", f"dtype {golden.dtype} -> {new.dtype}")
    if golden.shape != new.shape:
        return Row(name, math.nan, math.nan, "FAIL", f"shape {golden.shape} -> {new.shape}")
    if golden.tobytes() == new.tobytes():
        return Row(name, 0.0, 0.0, "identical")
    if not (np.issubdtype(golden.dtype, np.number) or golden.dtype == bool):
        return Row(name, math.nan, math.nan, "FAIL", "non-numeric values differ")
    g = golden.astype(np.float64) if golden.dtype != np.float64 else golden
    n = new.astype(np.float64) if new.dtype != np.float64 else new
    tiny = (np.finfo(golden.dtype).tiny if np.issubdtype(golden.dtype, np.floating)
            else np.finfo(np.float64).tiny)
    g_nan, n_nan = np.isnan(g), np.isnan(n)
    if np.any(g_nan != n_nan):
        return Row(name, math.nan, math.nan, "FAIL", "NaNs in other places")
    g_inf, n_inf = np.isinf(g), np.isinf(n)
    if np.any(g_inf != n_inf) or np.any(g[g_inf] != n[g_inf]):
        return Row(name, math.inf, math.inf, "FAIL", "infinities differ")
    finite = np.isfinite(g)
    diff = np.abs(n[finite] - g[finite])
    rel = diff / np.maximum(np.abs(g[finite]), tiny)
    abs_max = float(diff.max()) if diff.size else 0.0
    rel_max = float(rel.max()) if rel.size else 0.0
    within = np.all((diff <= atol) | (rel <= rtol))
    return Row(name, abs_max, rel_max, "within_rtol" if within else "FAIL")


def compare_entries(golden: Mapping[str, np.ndarray], new: Mapping[str, np.ndarray],
                    rtol: float, atol: float = 0.0,
                    errors: Mapping[str, str] | None = None) -> list[Row]:
    """One :class:`Row` per entry in either mapping, sorted by name. ``errors`` maps case
    prefixes that failed to compute to their error, noted on their missing entries."""
    rows = []
    for name in sorted(set(golden) | set(new)):
        if name not in new:
            note = next((f"computation failed: {e}" for p, e in (errors or {}).items()
                         if name.startswith(p + "/")), "not computed by this tree")
            rows.append(Row(name, math.nan, math.nan, "MISSING", note))
        elif name not in golden:
            rows.append(Row(name, math.nan, math.nan, "NEW", "not in the golden file"))
        else:
            rows.append(compare_arrays(name, golden[name], new[name], rtol, atol))
    return rows


def format_table(rows: Sequence[Row], show: str = "all") -> str:
    """The comparison table; ``show`` is "all", "differing" (not identical) or "failing"."""
    keep = {"all": STATUSES, "differing": STATUSES[1:], "failing": STATUSES[2:]}[show]
    shown = [r for r in rows if r.status in keep]
    width = max([len("entry")] + [len(r.name) for r in shown])
    lines = [f"{'entry':<{width}}  {'max abs diff':>12}  {'max rel diff':>12}  status"]
    for r in shown:
        a = "-" if math.isnan(r.abs_diff) else f"{r.abs_diff:.3e}"
        b = "-" if math.isnan(r.rel_diff) else f"{r.rel_diff:.3e}"
        lines.append(f"{r.name:<{width}}  {a:>12}  {b:>12}  {r.status}"
                     + (f"  ({r.note})" if r.note else ""))
    return "\n".join(lines)


def summarize(rows: Sequence[Row], rtol: float) -> tuple[str, bool]:
    """The counts line and whether the comparison passed."""
    counts = {s: sum(r.status == s for r in rows) for s in STATUSES}
    ok = counts["FAIL"] == counts["MISSING"] == counts["NEW"] == 0
    text = (f"{len(rows)} entries: {counts['identical']} identical bitwise, "
            f"{counts['within_rtol']} within rtol={rtol:g} (not bitwise), {counts['FAIL']} "
            f"failing, {counts['MISSING']} missing, {counts['NEW']} new -> "
            + ("PASS" if ok else "FAIL"))
    return text, ok


def environment_notes(golden_meta: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """A note for each version or machine property that differs from the recording's."""
    keys = ("jax", "jaxlib", "cpu_model", "cpu_simd_flags", "device_count", "platform",
            "xla_flags")
    return [f"note: {k} differs from the recording ({golden_meta.get(k)!r} -> {now.get(k)!r}); "
            "goldens are machine-specific, expect ulp-level differences"
            for k in keys if golden_meta.get(k) != now.get(k)]
