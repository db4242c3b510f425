"""Stable neural SDEs on irregularly sampled series as a runner task (``ts_neural_sde``).

Oh, Lim & Kim, ICLR 2024, "Stable Neural Stochastic Differential Equations in Analyzing
Irregular Time Series Data": a latent SDE of one of three classes (Langevin-type
``lsde``, linear-noise ``lnsde``, geometric ``gsde``; ``config.model.kwargs.kind``) reads
a controlled path through the kept observations (:mod:`diffax.neural_sde`). The task runs
the protocols of ``benchmarks/neural_sde.py`` through the unchanged runner
(``config.task.problem``):

* ``classification``: ``floor(rate * L)`` steps of every series and channel are dropped
  once (``rate = config.task.missing_rate``; the train split with key ``seed``, the test
  split with ``seed + 1``, the benchmark's masks); cross-entropy of the final latent's
  head; metric: test accuracy, baseline: the training split's majority class.
* ``interpolation``: fresh dropped steps at every training step (the step's key), fixed
  ones (key ``seed + 1``) on the test split; masked MSE of the per-step readout on the
  dropped observed values (normalised units); baselines: linear interpolation through the
  kept values (the controlled path's own value channel) and zero (the training mean).
* ``forecasting``: the first ``L - horizon`` steps are the input (after dropping
  ``missing_rate`` of them), the observed values of the last ``horizon`` steps the
  target; MSE there; baselines: the last kept value and zero.

The kept-steps mask of every example travels as the batch key ``input_mask`` (fixed per
split); the batch transform turns a batch into what the ``neural_sde`` objective fits
(``x`` zeroed where not kept, ``observed_mask`` = the kept steps, ``label`` or
``target_mask`` / ``target``). The network's randomness is its Brownian path:
``--mode=sample`` draws ``config.eval.draws`` paths for held-out series and plots them;
``--mode=eval`` scores the average of those draws (and a single path, the benchmark's
protocol) next to the baselines and writes ``neural_sde`` into ``metrics.json``.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from diffax import checks, training
from diffax.training import host_arrays
from diffax import filesystem as fs
from diffax.neural_sde import drop_observations, fill_missing, forecast_mask
from experiments.tasks import neural_sde_plots as plots
from experiments.tasks.base import ElementSpec, Task

PROBLEMS = ("classification", "interpolation", "forecasting")
MODES = ("train", "sample", "eval")


class InputMasked:
    """A time-series dataset whose examples also carry ``input_mask`` (N, L, K): the
    observed values the model is given (the rest of the Dataset protocol delegates)."""

    def __init__(self, base: Any, input_mask: np.ndarray):
        self.base, self.input_mask = base, input_mask

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)

    def get(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        out = self.base.get(indices)
        out["input_mask"] = self.input_mask[np.asarray(indices)]
        return out


def _masked_mse(pred: np.ndarray, truth: np.ndarray, mask: np.ndarray, axis=None):
    """sum m (pred - truth)^2 / max(sum m, 1) over ``axis`` (all axes by default)."""
    return np.sum(mask * (pred - truth) ** 2, axis=axis) / np.maximum(
        np.sum(mask, axis=axis), 1.0)


class NeuralSDETask(Task):
    """See the module docstring; ``config.task``: ``problem``, ``missing_rate`` (fraction
    of steps dropped, in [0, 1)), ``horizon`` (forecasting)."""

    name = "ts_neural_sde"

    # -- options ------------------------------------------------------------------------
    def options(self, config) -> tuple[str, float, int]:
        t = config.task
        problem = checks.choice("config.task", "problem", t.get("problem", ""), PROBLEMS)
        rate = checks.probability("config.task", "missing_rate", t.get("missing_rate", 0.0),
                                  hi_open=True)
        horizon = int(t.get("horizon", 0))
        if problem == "forecasting" and horizon < 1:
            raise ValueError(f"config.task.horizon={horizon} is invalid: forecasting needs "
                             f"the number of predicted steps (>= 1, < the series length).")
        return problem, float(rate), horizon

    def _input_mask(self, config, observed, key_seed):
        problem, rate, horizon = self.options(config)
        if problem == "forecasting":
            observed = forecast_mask(jnp.asarray(observed), horizon)
        # key ``jax.random.key(seed)``: the benchmark's masks (rate 0 keeps every step)
        return np.asarray(drop_observations(jnp.asarray(observed), rate,
                                            jax.random.key(key_seed)), np.float32)

    # -- data ---------------------------------------------------------------------------
    def dataset(self, config, split: str) -> InputMasked:
        base = super().dataset(config, split)
        observed = base.get(np.arange(base.num_examples))["observed_mask"]
        seed = config.seed + (0 if split == "train" else 1)
        return InputMasked(base, self._input_mask(config, observed, seed))

    def spec(self, config, dataset, example) -> ElementSpec:
        problem, _, _ = self.options(config)
        for field, value, want in (("model.name", config.model.name, "stable_neural_sde"),
                                   ("objective.name", config.objective.name, "neural_sde")):
            if value != want:
                raise ValueError(f"config.{field}={value!r} is invalid: task {self.name!r} "
                                 f"trains a stable neural SDE; set it to {want!r}.")
        if config.training.sample_every:
            raise ValueError(f"config.training.sample_every={config.training.sample_every} "
                             f"is invalid: task {self.name!r} draws no sample grids while "
                             f"training (its network is not a diffusion sampler); set 0 and "
                             f"use --mode=sample (valid modes: {list(MODES)}).")
        keys = ["x", "observed_mask", "time", "input_mask"]
        if problem == "classification":
            if not dataset.num_classes:
                raise ValueError(f"config.task.problem='classification' needs labels; "
                                 f"{config.data.name!r} has none (choose a labelled 'ts:' set "
                                 f"or problem in {list(PROBLEMS[1:])}).")
            keys.append("label")
        return ElementSpec({k: tuple(np.shape(example[k])[1:]) for k in keys},
                           {k: str(np.asarray(example[k]).dtype) for k in keys},
                           condition=tuple(keys[1:]), masks=("observed_mask", "input_mask"),
                           num_classes=dataset.num_classes if problem == "classification"
                           else None)

    def network_kwargs(self, config, spec: ElementSpec) -> dict:
        k = spec.data_shape[-1]
        classes = spec.num_classes
        return {**dict(config.model.kwargs), "num_features": k,
                "out_dim": classes if classes else k,
                "readout": "final" if classes else "sequence"}

    def default_features(self, dataset) -> str:
        return "pixels"

    # -- training -----------------------------------------------------------------------
    def batch_transform(self, config, spec, *, train: bool):
        problem, rate, horizon = self.options(config)

        def transform(batch: dict, key: jax.Array) -> dict:
            observed = batch["observed_mask"]
            if problem == "classification" or not train:
                kept = batch["input_mask"]
            elif problem == "interpolation":
                kept = drop_observations(observed, rate, key)
            else:
                context = forecast_mask(observed, horizon)
                kept = drop_observations(context, rate, key) if rate else context
            out = {"x": batch["x"] * kept, "observed_mask": kept, "time": batch["time"]}
            if problem == "classification":
                out["label"] = batch["label"]
                return out
            future = (observed - forecast_mask(observed, horizon) if problem == "forecasting"
                      else observed * (1.0 - kept))
            return {**out, "target_mask": future, "target": batch["x"]}

        return transform

    # -- drawing Brownian paths ---------------------------------------------------------
    def _held_out(self, config, count: int | None = None) -> tuple[dict, dict, Any]:
        """(raw examples, model batch, dataset) of the evaluation split: all of it, or
        ``count`` examples (the first ones; for classification the first of each class
        in turn, so a picture shows every class)."""
        test = self.dataset(config, config.eval.split)
        index = np.arange(test.num_examples)
        if count is not None:
            labels = test.labels if self.options(config)[0] == "classification" else None
            if labels is not None:  # rank within class, then class: 0a, 1a, 0b, 1b, ...
                rank = np.zeros(len(labels), np.int64)
                for c in np.unique(labels):
                    rank[labels == c] = np.arange(np.sum(labels == c))
                index = np.lexsort((labels, rank))
            index = index[:count]
        raw = test.get(index)
        spec = None  # the transform does not read the spec
        batch = self.batch_transform(config, spec, train=False)(
            jax.tree.map(jnp.asarray, raw), jax.random.key(0))
        return raw, jax.tree.map(np.asarray, batch), test

    @staticmethod
    @functools.lru_cache(maxsize=8)
    def _runner(graphdef, method: str):
        @jax.jit
        def run(params, buffers, x, mask, time, key):
            net = nnx.merge(graphdef, params, buffers)
            fn = net if method == "call" else getattr(net, method)
            return fn(x, key, observed_mask=mask, time=time)
        return run

    def draws(self, graphdef, state, batch: dict, key: jax.Array, num: int, *,
              method: str = "call", chunk: int = 256) -> np.ndarray:
        """``num`` Brownian draws of the network on every row of ``batch``: (num, N, ...)
        (``method="readout_path"``: (num, steps + 1, N, out)). Draw ``s`` of rows
        ``[i, i + chunk)`` uses ``fold_in(fold_in(key, s), i)``; chunks are padded to one
        shape (one compilation)."""
        params = jax.device_get(training.eval_params(state, self.config.sampling.params))
        buffers = jax.device_get(state.buffers)
        run = self._runner(graphdef, method)
        n = len(batch["x"])
        size = min(chunk, n)
        out = []
        for s in range(num):
            parts = []
            for i in range(0, n, size):
                rows = [np.asarray(batch[k][i:i + size]) for k in ("x", "observed_mask", "time")]
                m = len(rows[0])
                rows = [host_arrays.pad_rows(r, size) for r in rows]
                y = np.asarray(run(params, buffers, *rows,
                                   jax.random.fold_in(jax.random.fold_in(key, s), i)))
                parts.append(y[:, :m] if method == "readout_path" else y[:m])
            out.append(np.concatenate(parts, axis=1 if method == "readout_path" else 0))
        return np.stack(out)

    # -- modes --------------------------------------------------------------------------
    def sample_mode(self, exp, graphdef, state, workdir: str) -> np.ndarray:
        """``config.eval.draws`` Brownian paths for the first 4 held-out series: the
        per-step readout (interpolation / forecasting; median and 5-95% band over the
        draws) or the class probabilities along each path (classification). Writes
        ``samples/neural_sde_paths_step<N>.npz`` and ``.png``; returns the draws."""
        config = self.config
        problem, _, _ = self.options(config)
        raw, batch, test = self._held_out(config, 4)
        key = jax.random.key(config.sampling.seed)
        method = "readout_path" if problem == "classification" else "call"
        draws = self.draws(graphdef, state, batch, key, int(config.eval.draws), method=method)
        name = f"neural_sde_paths_step{int(state.step)}"
        out_dir = fs.join(workdir, "samples")
        if jax.process_index() == 0:
            fs.save_npz(fs.join(out_dir, name + ".npz"), draws=draws,
                        **{k: np.asarray(v) for k, v in raw.items()})
            plots.paths(problem, draws, raw, batch, test, fs.join(out_dir, name + ".png"),
                        kind=config.model.kwargs.kind)
        print(f"[diffax] {draws.shape[0]} Brownian draws for {len(raw['x'])} held-out series "
              f"-> {out_dir}/{name}.png", flush=True)
        return draws

    def evaluate_mode(self, exp, graphdef, state, workdir: str) -> dict:
        """The problem's metric on the whole evaluation split, from the mean output of
        ``config.eval.draws`` Brownian paths and from the first path alone (the
        benchmark's protocol), with the baselines on the same masks; writes
        ``samples/neural_sde_eval_step<N>.png``."""
        config = self.config
        problem, rate, _ = self.options(config)
        raw, batch, _ = self._held_out(config)
        num = int(config.eval.draws)
        out = self.draws(graphdef, state, batch, jax.random.key(config.sampling.seed + 7), num)
        record = {"problem": problem, "sde": config.model.kwargs.kind, "missing_rate": rate,
                  "draws": num, "num_examples": int(len(raw["x"]))}
        if problem == "classification":
            labels = raw["label"]
            probs = np.mean(jax.nn.softmax(out, axis=-1), axis=0)
            train_labels = exp.dataset.get(np.arange(exp.dataset.num_examples))["label"]
            majority = int(np.bincount(train_labels).argmax())
            per_example = probs[np.arange(len(labels)), labels]
            record.update(metric="accuracy", value=float(np.mean(probs.argmax(-1) == labels)),
                          value_first_draw=float(np.mean(out[0].argmax(-1) == labels)),
                          nll=float(-np.mean(np.log(np.maximum(per_example, 1e-12)))),
                          baselines={"majority": float(np.mean(labels == majority))})
            baseline_pred = None
        else:
            target, truth = batch["target_mask"], batch["target"]
            mse = lambda p: float(_masked_mse(p, truth, target))  # noqa: E731
            filled = np.asarray(jax.jit(jax.vmap(fill_missing))(
                batch["x"], batch["observed_mask"], batch["time"]))
            lo, hi = np.quantile(out, [0.05, 0.95], axis=0)
            inside = (truth >= lo) & (truth <= hi)
            first = "linear_interp" if problem == "interpolation" else "last_value"
            record.update(metric="mse", value=mse(out.mean(0)), value_first_draw=mse(out[0]),
                          coverage_90=float(np.sum(target * inside) / max(target.sum(), 1.0)),
                          baselines={first: mse(filled), "zero": mse(np.zeros_like(filled))})
            per_example = _masked_mse(out.mean(0), truth, target, axis=(1, 2))
            baseline_pred = _masked_mse(filled, truth, target, axis=(1, 2))
        if jax.process_index() == 0:
            plots.scores(record, per_example, baseline_pred,
                         fs.join(workdir, "samples", f"neural_sde_eval_step{int(state.step)}.png"))
        return {"neural_sde": record}


__all__ = ["InputMasked", "MODES", "NeuralSDETask", "PROBLEMS"]
