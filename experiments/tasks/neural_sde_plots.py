"""Pictures of the ``ts_neural_sde`` task (:mod:`experiments.tasks.neural_sde`): Brownian
draws for held-out series (``--mode=sample``) and the scores next to the baselines
(``--mode=eval``). Each function writes a PNG and returns it as an (H, W, 3) uint8 array."""

from __future__ import annotations

from typing import Any

import numpy as np

from experiments import plots as base_plots


def paths(problem: str, draws: np.ndarray, raw: dict, batch: dict, dataset: Any, path: str, *,
          kind: str) -> np.ndarray:
    """Classification: ``draws`` (S, steps + 1, B, C) logits along each Brownian path; top
    row the series (kept steps as dots, dropped ones as grey crosses), bottom row the
    probability of the true class along each of the S paths (solver time in [0, 1]).
    Interpolation / forecasting: ``draws`` (S, B, L, K); the median and 5-95% band of the
    draws over the kept and the hidden (target) values, in data units."""
    if problem != "classification":
        lo, med, hi = (dataset.denormalize(q) for q in np.quantile(draws, [0.05, 0.5, 0.95],
                                                                    axis=0))
        truth = dataset.denormalize(np.asarray(raw["x"]))
        k = truth.shape[-1]
        return base_plots.series_bands(
            truth, batch["observed_mask"], batch["target_mask"], lo, med, hi, path,
            time=raw["time"], channels=tuple(range(min(k, 3))),
            title=f"{kind} {problem}:\n{draws.shape[0]} Brownian paths, median, 5-95%")
    plt = base_plots._pyplot()
    num, steps1, rows = draws.shape[0], draws.shape[1], draws.shape[2]
    fig, axes = plt.subplots(2, rows, figsize=(3.2 * rows, 5), squeeze=False)
    logits = draws - draws.max(-1, keepdims=True)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    tau = np.linspace(0.0, 1.0, steps1)
    for b in range(rows):
        label = int(raw["label"][b])
        t = np.asarray(raw["time"][b])
        observed = np.asarray(raw["observed_mask"][b, :, 0]) > 0
        kept = np.asarray(batch["observed_mask"][b, :, 0]) > 0
        x = np.asarray(raw["x"][b, :, 0])
        ax = axes[0, b]
        ax.plot(t[observed], x[observed], color="0.8", lw=1)
        ax.plot(t[kept], x[kept], "k.", ms=4, label="kept")
        gone = observed & ~kept
        ax.plot(t[gone], x[gone], "x", color="0.6", ms=4, label="dropped")
        ax.set_title(f"held-out series {b}, class {label}", fontsize=8)
        ax = axes[1, b]
        for s in range(num):
            ax.plot(tau, probs[s, :, b, label], color="tab:blue", lw=0.7, alpha=0.6)
        ax.axhline(0.5, color="0.7", lw=0.5)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"p(class {label}) at t=1: {probs[:, -1, b, label].mean():.2f}",
                     fontsize=8)
        ax.set_xlabel("SDE time", fontsize=7)
        for a in axes[:, b]:
            a.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=6)
    axes[1, 0].set_ylabel(f"p(true class | z(t)), {num} paths", fontsize=7)
    fig.suptitle(f"{kind} classification: the head on the latent along each Brownian path",
                 fontsize=9)
    return base_plots._save(fig, path)


def scores(record: dict, per_example: np.ndarray, baseline: np.ndarray | None,
           path: str) -> np.ndarray:
    """Left: the metric of the model (mean of the draws, and one draw) next to the
    baselines. Right: classification, the histogram of each held-out example's probability
    of its true class; otherwise each example's MSE against the first baseline's."""
    plt = base_plots._pyplot()
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(9, 3.6))
    names = [f"{record['sde']} ({record['draws']} draws)", f"{record['sde']} (1 draw)",
             *record["baselines"]]
    values = [record["value"], record["value_first_draw"], *record["baselines"].values()]
    ax0.bar(range(len(values)), values, color=["C0", "C9"] + ["0.6"] * (len(values) - 2))
    for i, v in enumerate(values):
        ax0.text(i, v, f"{v:.3f}", ha="center", va="bottom", fontsize=7)
    ax0.set_xticks(range(len(values)), names, fontsize=7, rotation=15)
    ax0.set_ylabel(record["metric"])
    ax0.set_title(f"{record['problem']}, {record['missing_rate']:.0%} of steps dropped, "
                  f"{record['num_examples']} held-out series", fontsize=8)
    if baseline is None:
        ax1.hist(per_example, bins=20, range=(0, 1), color="C0")
        ax1.set_xlabel("p(true class), mean over draws", fontsize=8)
        ax1.set_ylabel("held-out series", fontsize=8)
    else:
        top = float(max(np.max(per_example), np.max(baseline), 1e-6))
        ax1.scatter(baseline, per_example, s=4, alpha=0.5)
        ax1.plot([0, top], [0, top], color="0.5", lw=0.7)
        first = next(iter(record["baselines"]))
        ax1.set_xlabel(f"MSE of {first} per series", fontsize=8)
        ax1.set_ylabel("MSE of the SDE (mean of draws)", fontsize=8)
    ax1.set_title("per held-out series", fontsize=8)
    return base_plots._save(fig, path)


__all__ = ["paths", "scores"]
