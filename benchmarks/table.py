"""Render a sampler benchmark JSON as Markdown tables (for docs/benchmarks.md).

    python -m benchmarks.table DIR/samplers.json [--budgets 5,10,20,50]
    python -m benchmarks.table DIR/training.json     (benchmarks.training: MFU table)

One table per problem, one column per NFE budget. A sampler whose NFE per step does not
divide the budget runs the most steps that fit, and its cell names the NFE it used
(``3.82e-02 @9``). Deterministic samplers show the RMSE to the exact PF-ODE endpoint,
stochastic ones the sliced-W2 distance to exact data samples in brackets. Where the
records have them, the table adds the median per-sample error and the mode-flip rate at
the largest budget, and the mean overhead and scan ratios over the timed budgets.
"""

from __future__ import annotations

import argparse
import json


def _budget(record: dict, budgets: list[int]) -> int | None:
    """The NFE budget a record was run for (stored since session 6; inferred before)."""
    if "nfe_budget" in record:
        return record["nfe_budget"]
    nfe = record.get("nfe")
    if nfe is None:
        return None
    fitting = [b for b in budgets if b >= nfe]
    return min(fitting) if fitting else None


def _cell(r: dict | None, budget: int) -> str:
    if r is None:
        return "-"
    if "error" in r:
        return "error"
    v = (f"{r['rmse_to_exact']:.2e}" if r["rmse_to_exact"] is not None
         else f"({r['sw2_to_data']:.3f})")
    return v if r["nfe"] == budget else f"{v} @{r['nfe']}"


def sampler_table(path: str, budgets: list[int] | None = None) -> str:
    with open(path) as f:
        blob = json.load(f)
    meta, records = blob["meta"], blob["records"]
    budgets = budgets or [5, 10, 20, 50]
    problems = sorted({r["problem"] for r in records}, key=lambda p: int(p[3:-1]))
    lines = [f"Device: {meta['device']} ({meta['platform']}), jax {meta['jax']}, "
             f"process {meta['process']}, schedule {meta['schedule']}, "
             f"reference {meta['reference']}, accuracy batch {meta['batch_accuracy']}, "
             f"timing batch {meta['batch_timing']}.", ""]
    for prob in problems:
        rs = [r for r in records if r["problem"] == prob]
        used = [b for b in budgets if any(_budget(r, budgets) == b for r in rs)]
        last = used[-1]
        has_median = any("median_err_to_exact" in r for r in rs)
        has_timing = any("overhead_ratio" in r for r in rs)
        head = ["sampler"] + [f"NFE {b}" for b in used]
        if has_median:
            head += [f"median err @{last}", f"mode flips @{last}"]
        if has_timing:
            head += ["overhead ratio (mean)", "scan ratio (mean)"]
        lines += [f"### {prob}: RMSE to the exact PF-ODE endpoint "
                  "(stochastic: sliced-W2 to data, in brackets)", "",
                  "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
        for name in sorted({r["sampler"] for r in rs}):
            mine = {_budget(r, budgets): r for r in rs if r["sampler"] == name}
            cells = [_cell(mine.get(b), b) for b in used]
            if has_median:
                r = mine.get(last)
                ok = r is not None and r.get("median_err_to_exact") is not None
                cells += ([f"{r['median_err_to_exact']:.2e}", f"{r['mode_flip_rate']:.3f}"]
                          if ok else ["-", "-"])
            if has_timing:
                timed = [r for r in mine.values() if "overhead_ratio" in r]
                cells += ([f"{sum(r['overhead_ratio'] for r in timed) / len(timed):.3f}",
                           f"{sum(r['scan_ratio'] for r in timed) / len(timed):.3f}"]
                          if timed else ["-", "-"])
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    errors = [r for r in records if "error" in r]
    if errors:
        lines.append(f"{len(errors)} runs failed: " + "; ".join(
            f"{r['problem']}/{r['sampler']}/{r['steps']} steps: {r['error'][:80]}"
            for r in errors[:10]))
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description="Markdown tables from a samplers.json")
    p.add_argument("path")
    p.add_argument("--budgets", default="5,10,20,50", help="NFE budgets the run used")
    a = p.parse_args()
    with open(a.path) as f:
        records = json.load(f).get("records") or [{}]
    if "mfu" in records[0]:  # a training.json of benchmarks.training
        from benchmarks.training import training_table
        with open(a.path) as f:
            print(training_table(json.load(f)))
        return
    print(sampler_table(a.path, [int(v) for v in a.budgets.split(",")]))


if __name__ == "__main__":
    main()
