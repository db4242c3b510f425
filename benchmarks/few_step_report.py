"""Tables and plots of ``benchmarks.few_step`` records (``DIR/few_step.json``).

    python -m benchmarks.few_step_report DIR/few_step.json

The record: ``{"meta": {...}, "teacher": {"train_steps", "wall_s", "sampler",
"fd": {nfe: FD}}, "methods": [{"method", "sampler", "train_steps", "wall_s",
"fd": {nfe: FD}, optional "baseline": {"label", "fd"}, ...}]}``; FD keys are NFEs as
strings (JSON object keys).
"""

from __future__ import annotations

import argparse
import json

NFES = (1, 2, 4, 8)


def _fd(record: dict, nfe: int) -> float | None:
    return record.get("fd", {}).get(str(nfe))


def _cell(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}"


def few_step_table(result: dict, nfes: tuple[int, ...] = NFES) -> str:
    """Markdown: one row per method (FD-FMNIST at each NFE, its training steps and wall
    time), then the teacher's curve, then the goal of issue 20 (a 2-step student within
    1.5x of the teacher's FD at 20 NFE)."""
    head = "| method | sampler | " + " | ".join(f"NFE {n}" for n in nfes) + \
        " | train steps | train wall (s) |"
    rows = [head, "|" + "---|" * (len(nfes) + 4)]
    for r in result["methods"]:
        rows.append(f"| {r['method']} | {r['sampler']} | "
                    + " | ".join(_cell(_fd(r, n)) for n in nfes)
                    + f" | {r['train_steps']} | {r['wall_s']:.0f} |")
    t = result["teacher"]
    t_nfes = sorted(int(k) for k in t["fd"])
    lines = ["\n".join(rows), "",
             f"Teacher ({t['sampler']}, {t['train_steps']} steps, {t['wall_s']:.0f} s):", "",
             "| NFE | " + " | ".join(str(n) for n in t_nfes) + " |",
             "|" + "---|" * (len(t_nfes) + 1),
             "| FD-FMNIST | " + " | ".join(_cell(t["fd"][str(n)]) for n in t_nfes) + " |"]
    base = baseline_lines(result)
    if base:
        lines += [""] + base
    goal = goal_check(result)
    if goal is not None:
        lines += ["", goal]
    return "\n".join(lines)


def baseline_lines(result: dict) -> list[str]:
    """One sentence per method record with a ``baseline`` (``{"label", "fd": {nfe: FD}}``:
    the same sampler on the model before the method, e.g. MMD-DDM's teacher at NFE 4)."""
    out = []
    for r in result["methods"]:
        b = r.get("baseline")
        if not b:
            continue
        for nfe, before in sorted(b["fd"].items(), key=lambda kv: int(kv[0])):
            out.append(f"{r['method']} ({r['sampler']}, NFE {nfe}): {b['label']} "
                       f"{_cell(before)}, after {_cell(_fd(r, int(nfe)))}.")
    return out


def goal_check(result: dict) -> str | None:
    """A sentence on the goal: the best 2-step student against 1.5x the teacher's FD at
    NFE 20 (None when either number is missing)."""
    ref = result["teacher"]["fd"].get("20")
    two = [(r["fd"]["2"], r["method"]) for r in result["methods"] if r.get("fd", {}).get("2")
           is not None]
    if ref is None or not two:
        return None
    best, name = min(two)
    verdict = "met" if best <= 1.5 * ref else "not met"
    return (f"Goal (2-step FD <= 1.5 x teacher FD at NFE 20 = {1.5 * ref:.2f}): best 2-step "
            f"student {name} at {best:.2f}: {verdict} (ratio {best / ref:.2f}).")


def plot(result: dict, path: str) -> None:
    """FD-FMNIST against NFE (log-log), one line per method and the teacher's curve; a
    record's ``baseline`` (the model before the method) as open squares."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    t = result["teacher"]
    nfes = sorted(int(k) for k in t["fd"])
    ax.plot(nfes, [t["fd"][str(n)] for n in nfes], "k--o", label=f"teacher ({t['sampler']})")
    for r in result["methods"]:
        pts = sorted((int(k), v) for k, v in r["fd"].items() if v is not None)
        if pts:
            line, = ax.plot(*zip(*pts), "-o", label=r["method"])
            b = r.get("baseline")
            if b:  # the model before the method, same sampler: an open marker
                ax.plot([int(k) for k in b["fd"]], list(b["fd"].values()), "s", mfc="none",
                        color=line.get_color(), label=f"{r['method']}: {b['label']}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("NFE")
    ax.set_ylabel("FD-FMNIST")
    ax.set_title(f"few-step Fashion-MNIST ({result['meta']['scale']} scale)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("path")
    print(few_step_table(json.load(open(ap.parse_args().path))))


if __name__ == "__main__":
    main()
