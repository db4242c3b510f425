"""Sample metrics and likelihoods for ``--mode=eval`` (used by :func:`runner.evaluate`).

Every metric record names the features it was computed on: ``pixels`` (flattened
data), or a feature extractor from :mod:`diffax.features` (``fmnist_cnn`` gives
FD-FMNIST, ``inception_v3`` FID with user-supplied weights).
"""

from __future__ import annotations

import functools
import itertools
import math
import time
from typing import Callable, Iterator, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh

from diffax import filesystem as fs
from diffax import likelihood, metrics, training
from diffax.training import host_arrays
from diffax.samplers import sampler_info

METRICS = ("sliced_w2", "fd", "kid", "precision_recall")
FEATURES = ("auto", "pixels", "fmnist_cnn", "inception_v3")


def feature_function(name: str, auto: str = "pixels", weights_path: str = ""
                     ) -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    """``(features_name, fn)``: fn maps samples (N, ...) in [-1, 1] to (N, k) features.

    ``auto`` is what ``name="auto"`` means, the task's choice
    (:meth:`experiments.tasks.Task.default_features`: the Fashion-MNIST classifier
    features for Fashion-MNIST, flattened pixels otherwise).
    """
    if name not in FEATURES:
        raise ValueError(f"eval.features: unknown {name!r}; valid choices: {list(FEATURES)}.")
    if name == "auto":
        name = auto
    if name == "pixels":
        return "pixels", lambda x: np.asarray(x).reshape(len(x), -1)
    from diffax.features import feature_name, get_feature_fn

    kw = {"weights_path": weights_path} if name == "inception_v3" else {}
    fn = get_feature_fn(name, **kw)
    return feature_name(name, **kw), lambda x: np.asarray(fn(jnp.asarray(x)))


def sample_metrics(names, samples: np.ndarray, reference: np.ndarray,
                   features: Callable, key: jax.Array) -> dict:
    """The requested ``metrics`` between samples and held-out data (same count)."""
    unknown = sorted(set(names) - set(METRICS))
    if unknown:
        raise ValueError(f"eval.metrics: unknown {unknown}; valid choices: {list(METRICS)}.")
    out = {}
    fs, fr = jnp.asarray(features(samples)), jnp.asarray(features(reference))
    if "sliced_w2" in names:
        out["sliced_w2"] = float(metrics.sliced_wasserstein(key, fs, fr))
    if "fd" in names:
        out["fd"] = float(metrics.frechet_distance_from_features(fs, fr))
    if "kid" in names:
        m = min(1000, len(fs) // 2)  # subsets smaller than the set, so kid_std means something
        mean, std = metrics.kernel_inception_distance(fs, fr, subset_size=m, n_subsets=50,
                                                      key=key)
        out["kid"], out["kid_std"] = float(mean), float(std)
    if "precision_recall" in names:
        prec, rec = metrics.precision_recall(fr, fs, k=3)
        out["precision"], out["recall"] = float(prec), float(rec)
    return out


@functools.lru_cache(maxsize=1)
def _fmnist_logits_fn() -> Callable:
    """The packaged classifier's jitted logits, loaded once per process (an eval sweep
    calls :func:`class_accuracy` once per guidance scale)."""
    from diffax.features import fmnist_cnn

    params = fmnist_cnn.load_params()
    return jax.jit(lambda x: fmnist_cnn.logits(params, x))


def class_accuracy(samples: np.ndarray, labels: np.ndarray) -> dict:
    """How often diffax's Fashion-MNIST classifier (fmnist_cnn, 89% on real test images)
    assigns class-conditional samples to the label they were drawn for: the overall
    rate and the worst class's. It measures how well conditioning / guidance works, not
    image quality (read it next to FD)."""
    predicted = np.asarray(jnp.argmax(_fmnist_logits_fn()(jnp.asarray(samples)), axis=-1))
    labels = np.asarray(labels)
    per_class = [float(np.mean(predicted[labels == k] == k)) for k in np.unique(labels)]
    return {"class_accuracy": float(np.mean(predicted == labels)),
            "class_accuracy_worst": float(min(per_class))}


def heldout_likelihood(model_fn, process, kind: str, data: np.ndarray, labels, key: jax.Array,
                       *, divergence: str, rtol: float, images: bool,
                       batch_size: int = 64, mesh: Mesh | None = None) -> dict:
    """Negative log-likelihood of held-out data through the PF-ODE.

    ``images=True`` (uint8 data): dequantized bits/dim (an upper bound; see
    :mod:`diffax.likelihood.bits_per_dim`). Otherwise nats per example and per dim.
    The task decides (``experiments.tasks``).

    ``data`` and ``labels`` (the same on every host) go through the ODE solver
    ``batch_size`` examples at a time, each batch split along the "data" axis of
    ``mesh`` (default :func:`diffax.training.make_mesh`); batch i draws its Hutchinson
    probes from ``fold_in(key, i)``. A batch whose size does not split over the data
    axis is padded by repeating its last example (and the padding's values dropped).
    The solver takes one step size for the whole batch (an RMS error over all rows), so
    padded rows can move the values by a fraction of ``rtol`` from those of an unpadded
    one-device run; batches that split evenly give the same values up to float rounding.
    """
    d = math.prod(data.shape[1:])
    if divergence == "auto":
        divergence = "exact" if d <= 16 else "hutchinson"
    mesh = training.make_mesh() if mesh is None else mesh

    @functools.partial(jax.jit, out_shardings=host_arrays.rows_sharding(mesh))
    def one_batch(x, cond, k):
        cond_kw = {"cond": cond} if cond else {}
        if images:
            return likelihood.image_bits_per_dim(
                model_fn, process, x, k, prediction=kind, divergence=divergence,
                rtol=rtol, atol=rtol, **cond_kw)
        return likelihood.pf_ode_log_likelihood(
            model_fn, process, x, key=k, prediction=kind, divergence=divergence,
            rtol=rtol, atol=rtol, **cond_kw).log_prob

    values = []
    for i, start in enumerate(range(0, len(data), batch_size)):
        rows = {"x": np.asarray(data[start:start + batch_size])}
        if labels is not None:
            rows["label"] = np.asarray(labels[start:start + batch_size], np.int32)
        placed = host_arrays.global_rows(rows, mesh)
        x = placed.pop("x")
        k = jax.device_put(jax.random.fold_in(key, i), training.sharding.replicated(mesh))
        values.append(host_arrays.to_host(one_batch(x, placed, k))[:len(rows["x"])])
    v = np.concatenate(values)
    sem = float(v.std() / np.sqrt(len(v)))
    common = {"num_examples": int(len(v)), "divergence": divergence, "rtol": rtol,
              "conditional_on_labels": labels is not None}
    if images:
        return {"bits_per_dim": float(v.mean()), "bits_per_dim_sem": sem,
                "dequantization": "uniform, 1 draw", **common}
    return {"nll_nats": float(-v.mean()), "nll_nats_sem": sem,
            "nll_nats_per_dim": float(-v.mean() / d), **common}


def sampler_runs(samplers, nfes) -> list[tuple[str, int | None]]:
    """(sampler, NFE budget) pairs to evaluate: every budget for fixed-step samplers,
    one run (budget None) for adaptive ones, which choose their own steps."""
    return [(name, None) if sampler_info(name).adaptive else (name, int(nfe))
            for name in samplers for nfe in (nfes[:1] if sampler_info(name).adaptive
                                             else nfes)]


def _timed(fn, *args) -> tuple[np.ndarray, int, float]:
    """``fn(*args)`` run twice (compile, then timed): (samples, NFE spent, wall s)."""
    jax.block_until_ready(fn(*args))
    t0 = time.perf_counter()
    x, spent = jax.device_get(fn(*args))
    return np.asarray(x), int(np.max(spent)), time.perf_counter() - t0


def sample_metric_entries(exp, test, graphdef, state, params, *,
                          mesh: Mesh | None = None) -> list[dict]:
    """Unconditional / class-conditional samples against as many held-out examples, one
    record per (sampler, NFE budget, guidance scale) of ``config.eval``; the samples are
    drawn split over ``mesh`` (:func:`experiments.sampling.make_sample_fn`) and every
    host computes the metrics on all of them."""
    from experiments import runner

    config, e = exp.config, exp.config.eval
    n = e.num_samples
    reference = runner.data_reference(test, n)
    feat_name, features = feature_function(
        e.features, exp.task.default_features(exp.dataset), e.inception_weights)
    sweep = tuple(e.get("guidance_scales", ()))
    scales = sweep if exp.num_classes and sweep else (None,)
    entries = []
    for (name, nfe), scale in itertools.product(sampler_runs(e.samplers, e.nfes), scales):
        fn = runner.make_sample_fn(exp, graphdef, num_samples=n, sampler=name, nfe=nfe,
                                   guidance_scale=scale, with_nfe=True, mesh=mesh)
        x, spent, wall = _timed(fn, state.buffers, params,
                                jax.random.PRNGKey(config.sampling.seed))
        entry = {"sampler": name, "nfe": spent, "wall_s": wall, "features": feat_name,
                 **sample_metrics(e.metrics, x, reference, features,
                                             jax.random.PRNGKey(0)),
                 "mean": float(x.mean()), "std": float(x.std())}
        if nfe is None:
            entry["adaptive"] = True
        if exp.num_classes:
            entry["guidance_scale"] = float(config.sampling.guidance_scale if scale is None
                                            else scale)
        entry.update(exp.task.extra_metrics(x, exp.task.sample_condition(exp.spec, n),
                                            exp.dataset))
        entries.append(entry)
    return entries


class ConditionalChunk(NamedTuple):
    """One chunk of held-out examples with their draws (see :func:`conditional_draws`):
    ``samples`` (S, n, ...) for the ``n`` real rows, ``batch`` and ``condition`` cut to
    them, the NFE spent and the wall time of the timed call; ``states`` (k, S, n, ...)
    the sampler's last k states when the task asks for k > 1
    (:meth:`~experiments.tasks.Task.sample_states`), else None."""

    index: int
    samples: np.ndarray
    batch: dict
    condition: dict
    nfe: int
    wall_s: float
    states: np.ndarray | None = None


def conditional_draws(exp, test, graphdef, state, params, sampler: str, nfe: int | None,
                      max_chunks: int | None = None, *, warmup: bool = True,
                      mesh: Mesh | None = None) -> Iterator[ConditionalChunk]:
    """Draws of a conditional task for the held-out examples, in order, chunk by chunk.

    ``rows = min(data.batch_size, split size)`` examples at a time, at most
    ``max_chunks`` chunks (None: the whole split; the last chunk is padded by repeating
    its last example, and the padding is cut off). For each chunk the task turns the
    batch into a condition (:meth:`~experiments.tasks.Task.eval_condition`, a fixed key
    per chunk) and the ``config.eval.draws`` samples of every example are drawn in one
    jitted call (the condition tiled draw-major); with ``warmup`` the first call is
    compiled outside the timing (without, the first chunk's time includes compilation).
    The draws of a chunk are split over ``mesh`` (default: every device of every host;
    :func:`experiments.sampling.make_sample_fn`) and come back to every host whole.
    """
    from experiments import runner

    config = exp.config
    total = test.dataset.num_examples
    draws, rows = int(config.eval.draws), min(int(config.data.batch_size), total)
    chunks = -(-total // rows) if max_chunks is None else min(-(-total // rows), max_chunks)
    keep = int(exp.task.sample_states(config))
    fn = runner.make_sample_fn(exp, graphdef, num_samples=draws * rows, sampler=sampler,
                               nfe=nfe, with_nfe=True, keep_states=keep, mesh=mesh)
    for i in range(chunks):
        index = np.arange(i * rows, (i + 1) * rows)
        real = int(np.sum(index < total))
        batch = test.examples(np.minimum(index, total - 1))
        cond = exp.task.eval_condition(config, batch, jax.random.fold_in(
            jax.random.PRNGKey(config.seed + 20_000), i))
        tiled = {k: np.concatenate([np.asarray(v)] * draws) for k, v in cond.items()}
        key = jax.random.fold_in(jax.random.PRNGKey(config.sampling.seed), i)
        if i == 0 and warmup:  # compile outside the timing
            jax.block_until_ready(fn(state.buffers, params, key, tiled))
        t0 = time.perf_counter()
        x, n = fn(state.buffers, params, key, tiled)  # NumPy, on every host
        wall = time.perf_counter() - t0
        states = None
        if keep > 1:  # (k, draws * rows, ...): the last state is the sample
            states = x.reshape(keep, draws, rows, *x.shape[2:])[:, :, :real]
            x = x[-1]
        samples = x.reshape(draws, rows, *x.shape[1:])[:, :real]
        cut = lambda tree: {k: np.asarray(v)[:real] for k, v in tree.items()}  # noqa: E731
        yield ConditionalChunk(i, samples, cut(batch), cut(cond), int(np.max(n)), wall, states)


def conditional_metrics(exp, test, graphdef, state, params, sampler: str, nfe: int | None,
                        workdir: str, *, mesh: Mesh | None = None) -> dict:
    """Score a conditional task (imputation, forecasting) with ``sampler`` at ``nfe``:
    the task summarises the draws of every chunk of :func:`conditional_draws` (at most
    ``config.eval.num_batches`` chunks) and its :meth:`~experiments.tasks.Task.score`
    turns all summaries into metrics. The record also holds the NFE spent, the wall time
    of the timed calls (compilation excluded) and the imputations per second; the first
    chunk's picture goes to ``workdir/samples``.
    """
    config = exp.config
    summaries, wall, spent, scored = [], 0.0, 0, 0
    for chunk in conditional_draws(exp, test, graphdef, state, params, sampler, nfe,
                                   config.eval.num_batches, mesh=mesh):
        states = {} if chunk.states is None else {"states": chunk.states}
        summaries.append(exp.task.summarize(chunk.samples, chunk.batch, chunk.condition,
                                            test.dataset, **states))
        wall += chunk.wall_s
        spent = max(spent, chunk.nfe)
        scored += chunk.samples.shape[1]
        if chunk.index == 0 and jax.process_index() == 0:
            name = f"{sampler}_nfe{spent}_step{int(state.step)}_condition.png"
            exp.task.condition_pictures(chunk.samples, chunk.batch, chunk.condition,
                                        test.dataset, fs.join(workdir, "samples", name))
    draws = int(config.eval.draws)
    return {"sampler": sampler, "nfe": spent, **({"adaptive": True} if nfe is None else {}),
            "draws": draws, "num_examples": scored, "wall_s": wall,
            "imputations_per_s": draws * scored / max(wall, 1e-9),
            **exp.task.score(summaries, test.dataset)}
