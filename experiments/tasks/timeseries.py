"""Time series (windows (L, K) with observed masks): CSDI-style probabilistic imputation,
forecasting and generation on one network family, with no special case in the runner or
the train step.

A batch of windows from ``diffax.data`` (``"ts:<name>"`` sets) holds ``x`` (normalised
values, 0 where missing), ``observed_mask`` and ``time``. The task's batch transform turns
it into what the network and the loss see (Tashiro et al. 2021, "CSDI: Conditional
Score-based Diffusion Models for Probabilistic Time Series Imputation"):

    target    = a subset of the observed values (random / historical / mix strategy while
                training; a fixed missing ratio or the forecast horizon at evaluation)
    cond_mask = observed_mask * (1 - target),   cond_values = x * cond_mask,
    loss_mask = target                          (the loss counts the hidden values only)

so ``net(x_t, c, cond_mask=, cond_values=, time=)`` denoises the targets given the rest.
Generation trains on every observed value (``loss_mask = observed_mask``) with no
conditioning. Evaluation draws ``eval.draws`` samples per window and reports CSDI's CRPS
(19 quantiles, normalised by sum |y|), CRPS-sum, and the MAE / RMSE of the median in data
units, next to the same numbers for simple baselines on the same targets.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from diffax import checks
from diffax.data.timeseries import masks
from diffax import metrics
from experiments.tasks.base import ElementSpec, Task

STRATEGIES = ("random", "historical", "mix")


def _denormalize(dataset: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(x) * np.asarray(dataset.std) + np.asarray(dataset.mean)


SCALINGS = ("none", "mean", "standardize")


def context_stats(x, cond_mask, scaling: str, xp=np):
    """``(level, scale)`` of each window and channel from its conditioning values only
    (never the hidden targets), shapes (B, 1, K); the model works on
    ``(x - level) / scale``:

    * ``"none"``: level 0, scale 1;
    * ``"mean"``: level = the mean of the conditioning values (0 where a channel has
      none), scale 1 (mean scaling, as GluonTS and TSDiff scale windows by their
      context);
    * ``"standardize"``: also scale = their standard deviation, floored at 1e-2 of the
      global scale (the data are already globally normalised) and 1 where fewer than two
      values are given.

    A trending series such as CO2, whose held-out years lie above every training level,
    is then imputed relative to its own context instead of extrapolating the global
    normalisation, and with ``standardize`` its small seasonal detail is of order one."""
    if scaling == "none":
        return 0.0, 1.0
    count = xp.sum(cond_mask, axis=1, keepdims=True)
    level = xp.sum(x * cond_mask, axis=1, keepdims=True) / xp.maximum(count, 1.0)
    if scaling == "mean":
        return level, 1.0
    var = xp.sum(cond_mask * (x - level) ** 2, axis=1, keepdims=True) / xp.maximum(count, 1.0)
    scale = xp.where(count > 1, xp.maximum(xp.sqrt(var), 1e-2), 1.0)
    return level, scale


class _SeriesTask(Task):
    """What every time-series task shares: the spec, the network size, pictures."""

    def spec(self, config, dataset, example) -> ElementSpec:
        conditional = bool(config.model.class_conditional)
        if conditional and not dataset.num_classes:
            raise ValueError(f"model.class_conditional=True but {config.data.name!r} has no "
                             f"labels; set model.class_conditional=False.")
        keys = ["x", "observed_mask", "time"] + (["label"] if conditional else [])
        missing = [k for k in keys if k not in example]
        if missing:
            raise ValueError(f"task {self.name!r} needs time-series batches with keys {keys}; "
                             f"{config.data.name!r} gives {sorted(example)} (use a 'ts:' "
                             f"data set).")
        return ElementSpec({k: tuple(np.shape(example[k])[1:]) for k in keys},
                           {k: str(np.asarray(example[k]).dtype) for k in keys},
                           condition=tuple(keys[1:]), masks=("observed_mask",),
                           num_classes=dataset.num_classes if conditional else None)

    def network_kwargs(self, config, spec: ElementSpec) -> dict:
        return {**dict(config.model.kwargs), "num_features": spec.data_shape[-1],
                "num_classes": spec.num_classes}

    def default_features(self, dataset) -> str:
        return "pixels"  # flattened windows


class ImputationTask(_SeriesTask):
    """CSDI imputation: hide observed values, learn to fill them in from the rest.

    ``config.task``: ``train_strategy`` (``random``: a ratio drawn in [0, 1) per window;
    ``historical``: another window's missingness pattern; ``mix``: either, with equal
    probability), ``missing_rate`` (evaluation: the fraction of observed values hidden,
    CSDI's 0.1 / 0.5 / 0.9) and ``missing_pattern`` (evaluation: ``random`` or
    ``historical``) and ``scaling`` (model each window relative to the statistics of
    its conditioning values, :func:`context_stats`)."""

    name = "ts_imputation"
    conditional = True

    # -- targets ------------------------------------------------------------------------
    def target(self, config, batch: dict, key: jax.Array, *, train: bool) -> jax.Array:
        """The hidden (scored) values of a batch."""
        t, observed = config.task, batch["observed_mask"]
        strategy = t.train_strategy if train else t.missing_pattern
        checks.choice(f"config.task ({'train_strategy' if train else 'missing_pattern'})",
                      "strategy", strategy, STRATEGIES if train else STRATEGIES[:2])
        rate = None if train else checks.probability("config.task", "missing_rate",
                                                     t.missing_rate, lo_open=True)
        if strategy == "random":
            return masks.random_target_mask(key, observed, rate)
        if strategy == "historical":
            return masks.historical_target_mask(key, observed)
        return masks.mix_target_mask(key, observed, rate=rate)

    def _model_batch(self, config, batch: dict, key: jax.Array, *, train: bool) -> dict:
        target = self.target(config, batch, key, train=train)
        cond_mask = batch["observed_mask"] * (1.0 - target)
        x = batch["x"]
        level, scale = context_stats(x, cond_mask, self.scaling(config), jnp)
        x = (x - level) / scale
        out = {"x": x, "cond_mask": cond_mask, "cond_values": x * cond_mask,
               "time": batch["time"], "loss_mask": target}
        if "label" in batch:
            out["label"] = batch["label"]
        return out

    def batch_transform(self, config, spec, *, train: bool):
        def transform(batch, key):
            return self._model_batch(config, batch, key, train=train)
        return transform

    # -- sampling -----------------------------------------------------------------------
    def sample_condition(self, spec, num_samples, labels=None):
        """Without a held-out window to condition on, nothing is given (the training-time
        picture hook); evaluation and ``--mode=sample`` condition on held-out windows."""
        return {}

    def eval_condition(self, config, batch, key) -> dict:
        b = self._model_batch(config, jax.tree.map(jnp.asarray, batch), key, train=False)
        cond = {k: np.asarray(b[k]) for k in ("cond_mask", "cond_values", "time")}
        masks.check_masks(np.asarray(batch["observed_mask"]), np.asarray(b["loss_mask"]))
        return cond

    # -- baselines for the same targets -------------------------------------------------
    def baselines(self, values: np.ndarray, cond_mask: np.ndarray, dataset) -> dict:
        """Point predictions (B, L, K) of simple methods from the conditioning values."""
        from diffax.baselines import timeseries as base

        return {"mean": base.mean_impute(values, cond_mask),
                "linear_interpolation": base.linear_interpolate(values, cond_mask)}

    # -- evaluation ---------------------------------------------------------------------
    def summarize(self, samples, batch, condition, dataset, states=None) -> dict:
        """Per batch, the numerators and denominators of every score, so the scores of
        all batches are exact ratios of sums (as if scored at once): CRPS and CRPS-sum
        (``diffax.metrics.crps_quantile_csdi`` / ``crps_sum``, weighted by their
        denominators sum m |y| and sum_t w_t |sum_k y_tk|), MAE and RMSE of the lower
        median (CSDI's), the same for each baseline's point prediction."""
        mean, std = np.asarray(dataset.mean), np.asarray(dataset.std)
        cond_mask = np.asarray(condition["cond_mask"])
        target = np.asarray(batch["observed_mask"]) * (1.0 - cond_mask)
        values = np.asarray(batch["x"])
        samples = self._unscale(samples, batch, condition)
        truth = values * std + mean
        count = float(target.sum())
        if count == 0:
            return {"count": 0.0}
        den = float(np.sum(target * np.abs(truth)))
        den_sum = float(np.sum(target.mean(-1) * np.abs(truth.sum(-1))))
        out = {"count": count, "crps_den": den, "crps_sum_den": den_sum,
               "crps": den * float(metrics.crps_quantile_csdi(samples, values, target, mean,
                                                              std)),
               "crps_sum": den_sum * float(metrics.crps_sum(samples, values, target, mean,
                                                            std)) if den_sum else 0.0}
        points = {"": (samples * std + mean, 0)}
        points.update({f"baseline_{k}/": (v * std + mean, None) for k, v in
                       self.baselines(values, cond_mask, dataset).items()})
        for prefix, (pred, axis) in points.items():
            out[prefix + "abs"] = count * float(metrics.masked_mae(pred, truth, target,
                                                                   sample_axis=axis))
            out[prefix + "sq"] = count * float(metrics.masked_rmse(
                pred, truth, target, sample_axis=axis)) ** 2
            if axis is None:  # a point prediction's CRPS is its absolute error
                out[prefix + "crps"] = out[prefix + "abs"]
        return out

    def score(self, summaries, dataset) -> dict:
        """CSDI's metrics over every hidden value of every scored window (data units)."""
        total = {k: sum(s.get(k, 0.0) for s in summaries) for k in summaries[0]}
        count = total["count"]
        if count == 0:
            raise ValueError("no hidden value was scored: every target mask is empty; raise "
                             "config.task.missing_rate or check the data's observed masks.")
        out = {"num_targets": int(count), "crps": total["crps"] / total["crps_den"],
               "mae": total["abs"] / count, "rmse": float(np.sqrt(total["sq"] / count))}
        if total["crps_sum_den"] > 0:
            out["crps_sum"] = total["crps_sum"] / total["crps_sum_den"]
        for name in sorted({k.split("/")[0] for k in total if k.startswith("baseline_")}):
            out[name] = {"crps": total[name + "/crps"] / total["crps_den"],
                         "mae": total[name + "/abs"] / count,
                         "rmse": float(np.sqrt(total[name + "/sq"] / count))}
        return out

    @staticmethod
    def scaling(config) -> str:
        """``config.task.scaling`` (default ``"none"``), checked."""
        return checks.choice("config.task", "scaling", config.task.get("scaling", "none"),
                             SCALINGS)

    def _unscale(self, samples: np.ndarray, batch: dict, condition: dict) -> np.ndarray:
        """Draws in the model's window coordinates back to the data's (normalised) ones:
        the context statistics recomputed from the held-out values and the conditioning
        mask, as the batch transform computed them."""
        level, scale = context_stats(np.asarray(batch["x"]), np.asarray(condition["cond_mask"]),
                                     self.scaling(self.config))
        return samples * scale + level

    def condition_pictures(self, samples, batch, condition, dataset, path):
        from experiments import plots

        cond_mask = np.asarray(condition["cond_mask"])[:4]
        values = np.asarray(batch["x"])[:4]
        # the draws are generated where nothing is given; elsewhere they are the given values
        drawn = self._unscale(samples, batch, condition)[:, :4]
        samples = np.where(cond_mask > 0, values, drawn)
        draws = _denormalize(dataset, samples)
        target = np.asarray(batch["observed_mask"])[:4] * (1.0 - cond_mask)
        lo, med, hi = np.quantile(draws, [0.05, 0.5, 0.95], axis=0)
        k = draws.shape[-1]
        return plots.series_bands(_denormalize(dataset, values), cond_mask,
                                  target, lo, med, hi, path,
                                  channels=tuple(range(min(k, 3))),
                                  title=f"{self.name}: {samples.shape[0]} draws, median and "
                                        f"5-95% band")


class ForecastingTask(ImputationTask):
    """Forecasting: the observed values of the last ``config.task.horizon`` steps of each
    window are the target, in training and evaluation alike. Baselines: the last value,
    the seasonal naive forecast (period ``config.task.period``, or the data set's
    frequency) and a least-squares linear trend of the context."""

    name = "ts_forecasting"

    def target(self, config, batch, key, *, train):
        return masks.forecast_target_mask(batch["observed_mask"], config.task.horizon)

    def baselines(self, values, cond_mask, dataset):
        from diffax.baselines import timeseries as base

        period = int(getattr(dataset, "frequency", None) or 1)
        return {"last_value": base.last_value_forecast(values, cond_mask),
                "seasonal_naive": base.seasonal_naive_forecast(values, cond_mask,
                                                               period=period),
                "linear_trend": base.linear_forecast(values, cond_mask)}


class GenerationTask(_SeriesTask):
    """Unconditional (or class-conditional) generation of whole windows; the loss counts
    the observed values only (gaps in real series are not learnt as zeros).

    Besides the sample metrics on flattened windows, evaluation reports TimeGAN's scores
    (Yoon et al. 2019; ``diffax.metrics.timeseries_generation``) against the training
    windows: the discriminative score (|accuracy - 0.5| of a GRU telling real from
    generated, 0 is best), the predictive score (next-step MAE on real windows of a GRU
    trained on the samples, next to the same GRU trained on real windows) and, for
    class-conditional models, how often a classifier trained on real windows recognises
    the requested class. ``config.task.metric_steps`` sets their training steps (0:
    skip)."""

    name = "ts_generation"

    def extra_metrics(self, samples, condition, dataset) -> dict:
        from diffax.metrics import timeseries_generation as tsg

        steps = int(self.config.task.get("metric_steps", 0))
        if steps <= 0:
            return {}
        real = dataset.get(np.arange(dataset.num_examples))
        key = jax.random.PRNGKey(0)
        samples = np.asarray(samples)
        disc = tsg.discriminative_score(key, real["x"], samples, mask=real["observed_mask"],
                                        hidden=16, steps=steps)
        pred = tsg.predictive_score(key, real["x"], samples, mask=real["observed_mask"],
                                    hidden=16, steps=steps)
        out = {"discriminative_score": disc.score, "predictive_score": pred.score,
               "predictive_score_real": pred.reference, "metric_steps": steps}
        if "label" in condition and "label" in real:
            acc = tsg.conditional_class_accuracy(key, real["x"], real["label"], samples,
                                                 np.asarray(condition["label"]),
                                                 num_classes=dataset.num_classes,
                                                 mask=real["observed_mask"], steps=steps)
            out.update(class_accuracy=acc.accuracy, class_accuracy_real=acc.reference)
        return out

    def batch_transform(self, config, spec, *, train: bool):
        dropout = super().batch_transform(config, spec, train=train)

        def transform(batch, key):
            k_drop, _ = jax.random.split(key)
            out = {"x": batch["x"], "time": batch["time"], "loss_mask": batch["observed_mask"]}
            if "label" in batch:
                out["label"] = batch["label"]
            return dropout(out, k_drop) if dropout is not None else out
        return transform

    def pictures(self, samples, path, reference=None):
        from experiments import plots

        if reference is None:
            return None
        return plots.series_side_by_side(np.asarray(samples), np.asarray(reference), path,
                                         title=f"{self.name}: generated vs real (normalised)")


__all__ = ["ForecastingTask", "GenerationTask", "ImputationTask", "SCALINGS", "STRATEGIES",
           "context_stats"]
