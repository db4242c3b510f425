"""Render a benchmark JSON as a Markdown table (for docs/benchmarks.md).

    python -m benchmarks.table runs/benchmarks/samplers.json
"""

from __future__ import annotations

import json
import sys


def sampler_table(path: str) -> str:
    with open(path) as f:
        blob = json.load(f)
    meta, records = blob["meta"], blob["records"]
    nfes = sorted({r["nfe"] for r in records if r.get("nfe")})
    problems = sorted({r["problem"] for r in records}, key=lambda p: int(p[3:-1]))
    lines = [f"Device: {meta['device']} ({meta['platform']}), jax {meta['jax']}, "
             f"process {meta['process']}, schedule {meta['schedule']}, "
             f"accuracy batch {meta['batch_accuracy']}, timing batch {meta['batch_timing']}.", ""]
    for prob in problems:
        rs = [r for r in records if r["problem"] == prob]
        lines += [f"### {prob}: RMSE to the exact PF-ODE endpoint (stochastic: sliced-W2 to data, in brackets)", "",
                  "| sampler | " + " | ".join(f"NFE {n}" for n in nfes) + " | overhead ratio (mean) | scan ratio (mean) |",
                  "|---" * (len(nfes) + 3) + "|"]
        for name in sorted({r["sampler"] for r in rs}):
            cells, ovh, scn = [], [], []
            for n in nfes:
                r = next((r for r in rs if r["sampler"] == name and r.get("nfe") == n), None)
                if r is None or "error" in r:
                    cells.append("-")
                    continue
                cells.append(f"{r['rmse_to_exact']:.2e}" if r["rmse_to_exact"] is not None
                             else f"({r['sw2_to_data']:.3f})")
                if "overhead_ratio" in r:
                    ovh.append(r["overhead_ratio"])
                    scn.append(r["scan_ratio"])
            o = f"{sum(ovh) / len(ovh):.3f}" if ovh else "-"
            s = f"{sum(scn) / len(scn):.3f}" if scn else "-"
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {o} | {s} |")
        lines.append("")
    errors = [r for r in records if "error" in r]
    if errors:
        lines.append(f"{len(errors)} runs failed: " + "; ".join(
            f"{r['problem']}/{r['sampler']}/{r['steps']} steps" for r in errors[:10]))
    return "\n".join(lines)


if __name__ == "__main__":
    print(sampler_table(sys.argv[1]))
