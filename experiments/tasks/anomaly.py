"""Time-series anomaly detection by imputation (Chen et al., VLDB 2023, "ImDiffusion:
Imputed Diffusion Models for Multivariate Time Series Anomaly Detection"), on the task
layer: no special case in the runner, the evaluation loop or the train step.

Training is the imputation task's (:class:`~experiments.tasks.timeseries.ImputationTask`:
CSDI network, loss on the hidden values, windows scaled by their context statistics) with
ImDiffusion's *grating masks* instead of random ones: the target of a window is one
phase of alternating time segments of ``config.task.segment`` steps
(:func:`diffax.data.timeseries.masks.grating_masks`, ``config.task.num_masks`` phases,
complementary: each step is a target in exactly one of them); training draws the phase
and a random offset of the grating per window.

Detection. The evaluation split (:class:`AnomalyEvalSet`) holds the calibration windows,
then the split's windows (stride ``config.task.eval_stride``; 0: the window, tiling),
each ``num_masks`` times in a row: copy ``g`` hides phase ``g``, so each step of each
window is imputed exactly once from its neighbours, ``config.eval.draws`` times. The
per-step errors (mean |imputation - value| over the observed channels, normalised units)
of all windows are assembled back onto the whole series: a step covered by several
windows takes their mean weighted by ``min(t + 1, L - t)`` (t its position in the
window), so with overlapping windows it counts mostly where it is imputed from both
sides (a window's first and last segments are extrapolated). Scores:

* ``score_t``: the error of the median draw; best F1 and best point-adjusted F1 over
  every threshold (an oracle threshold on the test labels, as most papers report), and
  AUC-PR (average precision);
* ``fixed_*``: the threshold is the ``config.task.threshold_quantile`` quantile of the
  same score on *calibration* data: the last ``config.task.calibration_steps`` steps of
  every training series, held out of training (normal data the model has not seen);
* ``vote_*``: ImDiffusion's ensemble vote. Each member (below) has its own
  threshold (the same quantile of that member's calibration errors); a step's votes are
  the members whose error exceeds their threshold; ``vote_f1``/``vote_pa_f1`` flag a
  majority (votes > M / 2), ``vote_best_pa_f1`` the best vote level k (votes >= k, k in
  1..M), as ImDiffusion picks it.

  ``config.task.ensemble`` picks the members: ``"draws"`` (default), the independent
  final draws; ``"steps"``, ImDiffusion's: the sampler's states at its last
  ``config.task.ensemble_steps`` denoising steps (:meth:`Task.sample_states`; the median
  over the draws of each step's state). ImDiffusion flags a top fraction of each
  member's errors scaled by its mean error; the per-member calibration quantile used
  here adapts to each member's error scale in the same way without a tuned fraction.
* ``baseline_reconstruction``: the same numbers for
  :func:`diffax.baselines.timeseries.reconstruction_error_scores` (leave-one-out moving
  average) on the same steps, computed on each whole series (no window edges).

The picture ``..._anomaly.png`` (test series, anomaly segments shaded, both scores and
the fixed thresholds, and a zoom on the first anomaly) is written next to the first
chunk's imputation picture. See docs/timeseries_anomaly.md.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from diffax import checks
from diffax import data as ddata
from diffax.data.timeseries import masks
from diffax.data.timeseries.dataset import TimeSeriesDataset
from diffax.data.timeseries.windows import window_starts
from experiments.tasks.anomaly_scoring import (assemble_steps, detection_scores,
                                               member_thresholds, series_baseline,
                                               vote_counts, vote_scores)
from experiments.tasks.timeseries import ImputationTask

ENSEMBLES = ("draws", "steps")

__all__ = ["ENSEMBLES", "AnomalyEvalSet", "AnomalyTask", "anomaly_picture"]


@dataclasses.dataclass(frozen=True, eq=False)
class AnomalyEvalSet(TimeSeriesDataset):
    """The evaluation windows of :class:`AnomalyTask`: the calibration windows (in the
    stored rows below ``calibration_rows``, the training series) then the split's windows
    (the rows above), each window ``copies`` times in a row (copy ``g`` is imputed under
    grating phase ``g``)."""

    calibration_rows: int = 0
    copies: int = 1


# ---- the task -----------------------------------------------------------------------------

class AnomalyTask(ImputationTask):
    """Imputation-based anomaly detection (module docstring).

    ``config.task``: ``num_masks`` (grating phases, ImDiffusion: 2), ``segment`` (steps
    per grating segment; ``num_masks * segment <= window``), ``calibration_steps`` (last
    steps of each training series held out to set thresholds; 0: thresholds from the
    test scores themselves, i.e. flag their top ``1 - threshold_quantile`` fraction, as
    ImDiffusion does), ``threshold_quantile``, ``scaling`` (as imputation).
    ``config.data.batch_size`` must be a multiple of ``num_masks``."""

    name = "ts_anomaly"
    _picture = None  # where score() draws the series (set by condition_pictures)

    def ensemble(self, config) -> tuple[str, int]:
        """``(config.task.ensemble, members per draw)``: ``"draws"`` (each final draw is a
        member) or ``"steps"`` (ImDiffusion: the states of the last
        ``config.task.ensemble_steps`` denoising steps are the members)."""
        kind = checks.choice("config.task", "ensemble", config.task.get("ensemble", "draws"),
                             ENSEMBLES)
        if kind == "draws":
            return kind, 1
        steps = int(config.task.get("ensemble_steps", 10))
        if steps < 2:
            raise ValueError(f"config.task.ensemble_steps={steps}: an ensemble over "
                             "denoising steps needs at least 2 of them.")
        return kind, steps

    def sample_states(self, config) -> int:
        return self.ensemble(config)[1]

    @staticmethod
    def _grating(config, length: int) -> tuple[int, int]:
        g, seg = int(config.task.num_masks), int(config.task.segment)
        if g < 2 or seg < 1 or g * seg > length:
            raise ValueError(f"config.task: num_masks={g} (>= 2) grating phases of segment="
                             f"{seg} (>= 1) steps must fit a window of {length} steps "
                             f"(num_masks * segment <= {length}) so that every window has "
                             "targets and conditioning values under every phase.")
        return g, seg

    # -- data ---------------------------------------------------------------------------
    def load(self, config, split: str, **options):
        """A split of ``config.data`` as windows (stride 1 for ``"train"``, tiling else;
        ``options`` override ``config.data.kwargs``)."""
        return ddata.get_dataset(config.data.name, split=split,
                                 **{**dict(config.data.kwargs), **options})

    @staticmethod
    def _stride(config, length: int) -> int:
        stride = int(config.task.get("eval_stride", 0)) or length
        if not 1 <= stride <= length:
            raise ValueError(f"config.task.eval_stride={stride} must be in [1, {length}] (the "
                             "window; 0: the window, i.e. tiling).")
        return stride

    def dataset(self, config, split):
        """``"train"``: the training windows minus the calibration tail of every series;
        any other split: an :class:`AnomalyEvalSet` (calibration windows, then the
        split's windows, each ``num_masks`` times)."""
        train = self.load(config, "train")
        length = train.length
        g, _ = self._grating(config, length)
        cal = int(config.task.calibration_steps)
        base = train.offsets - train.start
        ends = np.zeros(int(train.series_index.max()) + 1, np.int64)
        np.maximum.at(ends, train.series_index, train.start + length)  # series lengths
        if cal and (cal < length or np.any(ends - cal < length)):
            raise ValueError(f"config.task.calibration_steps={cal} must be 0 or at least the "
                             f"window ({length}) and leave a training window in every series "
                             f"(shortest series: {int(ends.min())} steps).")
        keep = train.start + length <= ends[train.series_index] - cal
        if split == "train":
            return dataclasses.replace(train, offsets=train.offsets[keep],
                                       series_index=train.series_index[keep],
                                       start=train.start[keep])
        stride = self._stride(config, length)
        test = self.load(config, split, stride=stride)
        if test.anomaly is None or test.valid is not None or test.length != length:
            raise ValueError(f"task {self.name!r} needs labelled windows of one length "
                             f"(an 'anomaly' key, no padding); {config.data.name!r} split "
                             f"{split!r} has none.")
        cal_series, cal_start = [], []
        for s in (np.unique(train.series_index) if cal else []):
            starts = window_starts(cal, length, stride) + ends[s] - cal
            cal_series.append(np.full(starts.size, s))
            cal_start.append(starts)
        cal_series = np.concatenate(cal_series or [np.zeros(0, np.int64)])
        cal_start = np.concatenate(cal_start or [np.zeros(0, np.int64)])
        first = {s: b for s, b in zip(train.series_index, base)}
        cal_offsets = np.array([first[s] for s in cal_series], np.int64) + cal_start
        rows = train.values.shape[0]
        train_anomaly = (train.anomaly if train.anomaly is not None
                         else np.zeros(rows, np.int32))
        rep = lambda a, b: np.repeat(np.concatenate([a, b]).astype(np.int64), g)
        return AnomalyEvalSet(
            name=test.name, split=test.split,
            values=np.concatenate([train.values, test.values]),
            mask=np.concatenate([train.mask, test.mask]),
            times=np.concatenate([train.times, test.times]),
            offsets=rep(cal_offsets, test.offsets + rows), length=length,
            normalizer=test.normalizer, channels=test.channels,
            series_index=rep(cal_series, test.series_index + len(ends)),
            start=rep(cal_start, test.start),
            anomaly=np.concatenate([train_anomaly, test.anomaly]).astype(np.int32),
            frequency=test.frequency, time_unit=test.time_unit,
            calibration_rows=rows, copies=g)

    # -- targets ------------------------------------------------------------------------
    def target(self, config, batch, key, *, train):
        """One grating phase per window: a random phase and offset in training; row ``r``
        of a held-out batch hides phase ``r % num_masks`` (offset 0)."""
        observed = batch["observed_mask"]
        b, length, k = observed.shape
        g, seg = self._grating(config, length)
        table = masks.grating_masks(length + g * seg, k, g, segment=seg)
        if train:
            k_phase, k_offset = jax.random.split(key)
            phase = jax.random.randint(k_phase, (b,), 0, g)
            offset = jax.random.randint(k_offset, (b,), 0, g * seg)
        else:
            phase, offset = jnp.arange(b) % g, jnp.zeros(b, jnp.int32)
        grating = table[phase[:, None], offset[:, None] + jnp.arange(length)[None, :]]
        return grating.astype(observed.dtype) * observed

    def eval_condition(self, config, batch, key):
        g = int(config.task.num_masks)
        checks.probability("config.task", "threshold_quantile", config.task.threshold_quantile)
        x = np.asarray(batch["x"]).reshape(len(batch["x"]), -1)
        if len(x) % g or not np.array_equal(x.reshape(-1, g, x.shape[1]),
                                            np.repeat(x[::g, None], g, axis=1)):
            raise ValueError(f"task {self.name!r}: held-out batches must hold each window "
                             f"num_masks={g} times in a row (the task's evaluation split, "
                             f"taken in order); got a batch of {len(x)} rows that does not. "
                             f"Make config.data.batch_size a multiple of {g}.")
        return super().eval_condition(config, batch, key)

    # -- evaluation ---------------------------------------------------------------------
    def summarize(self, samples, batch, condition, dataset, states=None) -> dict:
        """Per row and step: each member's error (a draw's, or with ``states`` the median
        over draws of one denoising step's state), the median draw's error, and the step's
        weight (0 off the targets, else ``min(t + 1, L - t)``: overlapping windows count
        mostly from the one where the step is most central), plus the windows, to check
        their order."""
        x = np.asarray(batch["x"])
        observed = np.asarray(batch["observed_mask"])
        target = observed * (1.0 - np.asarray(condition["cond_mask"]))
        count = target.sum(-1)
        pred = self._unscale(np.asarray(samples), batch, condition)

        def step_error(p):  # mean |p - x| over the target channels of each step
            return (np.abs(p - x) * target).sum(-1) / np.maximum(count, 1)

        length = x.shape[1]
        taper = np.minimum(np.arange(length) + 1, length - np.arange(length))
        if states is None:
            members = step_error(pred)
        else:
            members = np.stack([step_error(np.median(self._unscale(np.asarray(st), batch,
                                                                   condition), axis=0))
                                for st in states])
        return {"x": x, "step_weight": ((count > 0) * taper).astype(np.float32),
                "member_error": members.astype(np.float32),
                "median_error": step_error(np.median(pred, axis=0)).astype(np.float32)}

    def score(self, summaries, dataset) -> dict:
        """The detection metrics over every scored test step (module docstring)."""
        cat = lambda k, axis=0: np.concatenate([s[k] for s in summaries], axis=axis)
        x, weight = cat("x"), cat("step_weight")
        n, rows = len(x), dataset.values.shape[0]
        if not np.array_equal(x, dataset.get(np.arange(n))["x"]):
            raise ValueError(f"task {self.name!r}: the summaries are not the evaluation "
                             "split's first windows in order.")
        offsets = dataset.offsets[:n]
        members, count = assemble_steps(cat("member_error", 1), offsets, weight, rows)
        point, _ = assemble_steps(cat("median_error"), offsets, weight, rows)
        baseline = series_baseline(dataset)
        index = np.arange(rows)
        cal = (count > 0) & (index < dataset.calibration_rows)
        test = (count > 0) & (index >= dataset.calibration_rows)
        labels = dataset.anomaly[test]
        if not labels.any():
            raise ValueError(f"task {self.name!r}: the {int(test.sum())} scored test steps "
                             "hold no anomaly; raise config.eval.num_batches so that the "
                             f"whole split ({dataset.num_examples} rows) is scored.")
        q = checks.probability("config.task", "threshold_quantile",
                               self.config.task.threshold_quantile)
        ensemble, _ = self.ensemble(self.config)
        ref = cal if cal.any() else test
        out = {"num_test_steps": int(test.sum()), "num_anomalous_steps": int(labels.sum()),
               "num_calibration_steps": int(cal.sum()),
               "test_coverage": float(test.sum() / (rows - dataset.calibration_rows)),
               "ensemble": ensemble, "ensemble_members": int(members.shape[0]),
               "threshold_quantile": q,
               "threshold_reference": "calibration" if cal.any() else "test"}
        out.update(detection_scores(point[test], labels, np.quantile(point[ref], q)))
        out.update(vote_scores(vote_counts(members[:, test],
                                           member_thresholds(members[:, ref], q)),
                               labels, members.shape[0]))
        normal = test & (dataset.anomaly == 0)
        out["normal_step_mae"] = float(point[normal].mean())  # imputation error, normalised
        out["member_normal_mae"] = [float(m) for m in members[:, normal].mean(axis=1)]
        out["baseline_reconstruction"] = detection_scores(
            baseline[test], labels, np.quantile(baseline[ref], q))
        if self._picture is not None:
            path, self._picture = self._picture, None
            anomaly_picture(dataset.denormalize(dataset.values[test]), labels, point[test],
                            baseline[test], out["fixed_threshold"],
                            out["baseline_reconstruction"]["fixed_threshold"], path,
                            title=f"{self.name}: {dataset.name} {dataset.split}, "
                                  f"{members.shape[0]} draws")
        return out

    def condition_pictures(self, samples, batch, condition, dataset, path):
        stem = path[:-len("_condition.png")] if path.endswith("_condition.png") else path
        self._picture = stem.removesuffix(".png") + "_anomaly.png"
        return super().condition_pictures(samples, batch, condition, dataset, path)


def anomaly_picture(series: np.ndarray, labels: np.ndarray, score: np.ndarray,
                    baseline: np.ndarray, threshold: float, baseline_threshold: float,
                    path: str, *, title: str = "") -> np.ndarray:
    """The test series (data units, (n, K): first three channels) with the true anomalous
    steps shaded, the diffusion score and the baseline's with their fixed thresholds, and
    a zoom of +-3 windows' worth of steps around the first anomaly; returns the PNG."""
    from experiments import plots

    plt = plots._pyplot()
    steps = np.arange(len(series))
    fig, axes = plt.subplots(4, 1, figsize=(13, 9))
    where = np.flatnonzero(labels)
    lo, hi = max(int(where[0]) - 300, 0), min(int(where[-1]) + 300, len(series))
    panels = [(axes[0], steps, series[:, :3], "series (data units)", None),
              (axes[1], steps, score, "imputation error of the median draw", threshold),
              (axes[2], steps, baseline, "baseline: moving-average reconstruction error",
               baseline_threshold),
              (axes[3], steps[lo:hi], series[lo:hi, :3], "zoom on the first anomaly", None)]
    for ax, t, y, name, thr in panels:
        ax.plot(t, y, lw=0.7)
        ax.fill_between(t, 0, 1, where=labels[t] > 0, color="tab:red", alpha=0.3,
                        transform=ax.get_xaxis_transform(), lw=0)
        if thr is not None:
            ax.axhline(thr, color="k", ls="--", lw=0.8, label="fixed threshold")
            ax.legend(fontsize=7, loc="upper right")
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
    zoom = axes[3].twinx()
    zoom.plot(steps[lo:hi], score[lo:hi], color="tab:orange", lw=0.8)
    zoom.set_ylabel("score", fontsize=7, color="tab:orange")
    zoom.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return plots._save(fig, path)
