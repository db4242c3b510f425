"""``--mode=fid``: FID (or FD-FMNIST) at the scale papers report, resumable.

The protocol of FID tables (Heusel et al., 2017; as run by e.g. EDM, Karras et al., 2022):
``fid.num_samples`` (50,000) samples of the latest checkpoint, quantised to 8-bit images
as a PNG would store them, are compared with the training set; each set is summarised by
the mean and covariance of its features and

    FID = |mu_s - mu_r|^2 + tr(C_s) + tr(C_r) - 2 tr((C_s C_r)^{1/2}).

* **Chunks.** Samples are drawn ``fid.chunk_size`` at a time (rows split over the mesh's
  "data" axis by :func:`experiments.sampling.make_sample_fn`); chunk i uses the key
  ``fold_in(PRNGKey(fid.seed), i)`` and goes to ``workdir/fid/<run>/chunk_<i>.npz``
  (uint8 samples, what made them, and their SHA-256), written atomically. A rerun
  (after preemption) keeps every chunk that reads back intact with the same identity and
  redraws the others, so the result does not depend on where it resumed. The last chunk
  is drawn whole and cut, so N samples are the first N of any larger count.
* **Features** are computed sharded over "data" (:mod:`experiments.fid_stats`) and
  summed into running float64 moments; no more than one chunk is held at a time.
* **Reference statistics** of ``fid.reference_split`` are computed once and cached in
  ``fid.stats_dir`` (default ``workdir/fid/reference``) under a name holding the
  extractor's weights hash; a cache is reused only when its stored hash matches, and a
  cache for other weights is reported and left alone.

Writes ``workdir/fid/<run>.json``: the FID, the counts, the features and their hash, the
sampler, NFE, checkpoint step and wall times (the latest result at the top level and
every (features, count) computed under ``results``).
"""

from __future__ import annotations

import hashlib
import io
import json
import time

import jax
import ml_collections
import numpy as np

from diffax import filesystem as fs
from diffax import training
from experiments import fid_stats
from experiments.fid_stats import RunningStats

FEATURES = ("auto",) + fid_stats.EXTRACTORS


# ---- configuration -----------------------------------------------------------------------

def check_fid_config(config: ml_collections.ConfigDict) -> None:
    """Raise ValueError naming the first invalid field of the ``fid`` section."""
    if "fid" not in config:
        raise ValueError("config has no 'fid' section; start from configs/defaults.py "
                         "(fid.num_samples, fid.chunk_size, fid.features, ...).")
    f = config.fid
    for field in ("num_samples", "chunk_size", "feature_batch_size"):
        v = f[field]
        if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
            raise ValueError(f"config.fid.{field}={v!r} is invalid: expected a positive integer.")
    if f.num_samples < 2:
        raise ValueError(f"config.fid.num_samples={f.num_samples} is invalid: a covariance "
                         f"needs at least 2 samples.")
    for field in ("reference_num_examples", "nfe"):
        if not isinstance(f[field], int) or f[field] < 0:
            raise ValueError(f"config.fid.{field}={f[field]!r} is invalid: expected an integer "
                             f">= 0 (0: the default).")
    if f.features not in FEATURES:
        raise ValueError(f"config.fid.features={f.features!r} is invalid: choose one of "
                         f"{list(FEATURES)}.")
    if f.sampler:
        from diffax.samplers import SAMPLERS
        if f.sampler not in SAMPLERS:
            raise ValueError(f"config.fid.sampler={f.sampler!r} is invalid: choose one of "
                             f"{sorted(SAMPLERS)} (or '' for sampling.sampler).")


def resolve_features(config: ml_collections.ConfigDict) -> tuple[str, str]:
    """(extractor name, weights path) of the ``fid`` section: ``auto`` is FD-FMNIST on
    Fashion-MNIST and Inception-v3 otherwise; Inception weights default to
    ``eval.inception_weights``."""
    f = config.fid
    name = f.features
    if name == "auto":
        name = "fmnist_cnn" if config.data.name == "fashion_mnist" else "inception_v3"
    weights = f.weights or (config.eval.inception_weights if name == "inception_v3" else "")
    return name, weights


def run_name(config: ml_collections.ConfigDict, sampler: str, nfe: int, step: int) -> str:
    """The samples' identity: sampler, NFE, schedule, parameters, guidance, checkpoint
    step, seed and chunk size (not the count or the features, which reuse the chunks)."""
    s, f = config.sampling, config.fid
    guidance = f"_cfg{s.guidance_scale:g}" if config.model.class_conditional else ""
    return (f"{sampler}_nfe{nfe}_{s.schedule}_{s.params}{guidance}_step{step}"
            f"_seed{f.seed}_chunk{f.chunk_size}")


# ---- chunks ------------------------------------------------------------------------------

def to_uint8(x: np.ndarray) -> np.ndarray:
    """Samples in [-1, 1] as 8-bit pixels, rounded and clipped as a saved PNG holds them."""
    return np.clip(np.rint((np.asarray(x, np.float32) + 1.0) * 127.5), 0, 255).astype(np.uint8)


def from_uint8(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float32) / 127.5 - 1.0


def _digest(x: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()


def write_chunk(path: str, x: np.ndarray, meta: dict) -> None:
    """``x`` (uint8), ``meta`` (JSON) and the SHA-256 of ``x``, atomically."""
    buf = io.BytesIO()
    np.savez(buf, x=x, meta=np.asarray(json.dumps(meta, sort_keys=True)),
             sha256=np.asarray(_digest(x)))
    fid_stats.write_atomic(path, buf.getvalue())


def read_chunk(path: str, meta: dict, shape: tuple[int, ...]) -> np.ndarray | None:
    """The chunk's samples when ``path`` reads back whole, was made with ``meta``, has
    ``shape`` and matches its digest; None otherwise (missing, partial, corrupt, stale)."""
    if not fs.exists(path):
        return None
    try:
        with np.load(io.BytesIO(fs.read_bytes(path))) as f:
            x = np.asarray(f["x"])
            ok = (json.loads(str(f["meta"])) == json.loads(json.dumps(meta))
                  and x.shape == shape and x.dtype == np.uint8 and str(f["sha256"]) == _digest(x))
    except Exception:  # truncated zip, bad CRC, missing keys: redo the chunk
        return None
    return x if ok else None


def _to_host(x) -> np.ndarray:
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        from jax.experimental import multihost_utils
        x = multihost_utils.process_allgather(x, tiled=True)
    return np.asarray(jax.device_get(x))


def _agree(found: bool, what: str) -> bool:
    """Whether process 0 found ``what`` intact, on every host (each host reads the shared
    workdir itself; a host that cannot read what process 0 can would desynchronise the
    collective sampling, so that is an error)."""
    if jax.process_count() == 1:
        return found
    from jax.experimental import multihost_utils
    agreed = bool(multihost_utils.broadcast_one_to_all(np.asarray(found)))
    if agreed and not found:
        raise RuntimeError(f"process 0 reads {what} but process {jax.process_index()} cannot: "
                           f"every host must see the same workdir (a shared file system or "
                           f"a gs:// bucket).")
    return agreed


# ---- reference -----------------------------------------------------------------------------

def reference_statistics(config: ml_collections.ConfigDict, extractor: fid_stats.Extractor,
                         features, stats_dir: str, *, progress: bool = False
                         ) -> tuple[np.ndarray, np.ndarray, int, str, bool]:
    """``(mean, cov, count, path, reused)`` of the features of ``fid.reference_split``
    (its first ``fid.reference_num_examples``; 0: all), from the cache when its hash
    matches, else computed and cached (process 0 writes)."""
    from diffax import data as ddata
    from experiments.tasks import get_task

    f = config.fid
    task = get_task(config.task.name, config)
    dataset = task.dataset(config, f.reference_split)
    n = min(f.reference_num_examples or dataset.num_examples, dataset.num_examples)
    path = fid_stats.reference_cache_path(stats_dir, config.data.name, f.reference_split, n,
                                          extractor)
    meta = {"dataset": config.data.name, "split": f.reference_split,
            "features": extractor.description, "sha256": extractor.sha256}
    cached = fid_stats.load_reference(path, meta)
    if _agree(cached is not None, path):
        return (*cached, path, True)
    for old in fid_stats.stale_caches(path):
        print(f"[diffax] fid: {old} holds statistics for other {extractor.name} weights; "
              f"the weights hash is now {extractor.sha256[:16]}, recomputing", flush=True)
    pipeline = ddata.make_pipeline(dataset, min(config.data.batch_size, n), config.seed)
    rows = max(f.feature_batch_size, 1)
    batches = (pipeline.examples(np.arange(i, min(i + rows, n)))["x"]
               for i in range(0, n, rows))
    stats = fid_stats.accumulate(_bar(batches, -(-n // rows), "fid reference", progress),
                                 features, extractor.dim)
    if jax.process_index() == 0:
        fid_stats.save_reference(path, stats, meta)
    print(f"[diffax] fid: reference statistics of {n} {config.data.name}/{f.reference_split} "
          f"examples ({extractor.description}) -> {path}", flush=True)
    return stats.mean, stats.covariance(), n, path, False


def _bar(iterable, total: int, desc: str, enabled: bool):
    if not enabled or jax.process_index() != 0:
        return iterable
    from tqdm.auto import tqdm
    return tqdm(iterable, total=total, desc=desc, unit="chunk", dynamic_ncols=True)


# ---- the protocol --------------------------------------------------------------------------

def run(config: ml_collections.ConfigDict, workdir: str, *, step: int | None = None) -> dict:
    """FID of the latest (or ``step``) checkpoint at ``fid.num_samples`` samples against the
    cached reference statistics (module docstring); returns and writes the record."""
    from experiments import runner
    from experiments.sampling import make_sample_fn

    check_fid_config(config)
    t_start = time.perf_counter()
    f, s = config.fid, config.sampling
    exp, graphdef, state = runner.restore(config, workdir, step)
    if exp.task.conditional or not exp.dataset.is_image:
        raise ValueError(f"--mode=fid needs an unconditional or class-conditional image task; "
                         f"task {config.task.name!r} on {config.data.name!r} is not one.")
    sampler, nfe = f.sampler or s.sampler, f.nfe or s.nfe
    ckpt_step = int(jax.device_get(state.step))
    name = run_name(config, sampler, nfe, ckpt_step)
    chunk_dir = fs.join(workdir, "fid", name)
    mesh = training.make_mesh()
    training.sharding.check_batch_size(f.chunk_size, mesh, "fid.chunk_size")
    extractor = fid_stats.make_extractor(*resolve_features(config))
    features = fid_stats.sharded_feature_fn(extractor, mesh, f.feature_batch_size)
    stats_dir = f.stats_dir or fs.join(workdir, "fid", "reference")
    progress = bool(config.training.progress)
    t_ref = time.perf_counter()
    mu_r, cov_r, n_ref, ref_path, reused = reference_statistics(
        config, extractor, features, stats_dir, progress=progress)
    reference_wall = time.perf_counter() - t_ref

    params = training.eval_params(state, s.params)
    sample_fn = make_sample_fn(exp, graphdef, num_samples=f.chunk_size, sampler=sampler,
                               nfe=nfe, with_nfe=True)
    shape = (f.chunk_size, *exp.data_shape)
    num_chunks = -(-f.num_samples // f.chunk_size)
    stats = RunningStats.empty(extractor.dim)
    sampled, spent_nfe, sample_wall = [], 0, 0.0
    for i in _bar(range(num_chunks), num_chunks, "fid", progress):
        path = fs.join(chunk_dir, f"chunk_{i}.npz")
        meta = {"run": name, "index": i, "seed": int(f.seed)}
        x = read_chunk(path, meta, shape)
        if not _agree(x is not None, path):
            t0 = time.perf_counter()
            out, spent = sample_fn(state.buffers, params,
                                   jax.random.fold_in(jax.random.PRNGKey(f.seed), i),
                                   _condition(exp, i, f.chunk_size))
            x = to_uint8(_to_host(out))
            sample_wall += time.perf_counter() - t0
            spent_nfe = max(spent_nfe, int(np.max(_to_host(spent))))
            sampled.append(i)
            if jax.process_index() == 0:
                write_chunk(path, x, meta)
        rows = min(f.chunk_size, f.num_samples - i * f.chunk_size)
        stats = stats.update(features(from_uint8(x[:rows])))
    fid = fid_stats.frechet(stats.mean, stats.covariance(), mu_r, cov_r)
    record = {
        "fid": fid, "num_samples": stats.count, "features": extractor.description,
        "features_sha256": extractor.sha256, "reference": {
            "dataset": config.data.name, "split": f.reference_split, "count": n_ref,
            "path": ref_path, "reused": reused, "wall_s": reference_wall},
        "sampler": sampler, "nfe": spent_nfe or nfe, "schedule": s.schedule,
        "params": s.params, "step": ckpt_step, "seed": int(f.seed),
        "chunk_size": f.chunk_size, "chunks": num_chunks, "chunks_sampled": sampled,
        "sample_wall_s": sample_wall, "wall_s": time.perf_counter() - t_start,
        "devices": jax.device_count(), "platform": jax.devices()[0].platform, "run": name}
    if exp.num_classes:
        record["guidance_scale"] = float(s.guidance_scale)
    if jax.process_index() == 0:
        _write_record(fs.join(workdir, "fid", name + ".json"), record)
    print(f"[diffax] fid: {fid:.4f} ({extractor.description}, {stats.count} samples of "
          f"{name}; {len(sampled)}/{num_chunks} chunks sampled) in "
          f"{record['wall_s']:.1f} s", flush=True)
    return record


def _condition(exp, index: int, chunk_size: int) -> dict | None:
    """Class-conditional models: labels cycling over the global sample index (every class
    equally often in 50,000 samples), else None (the task's default)."""
    if not exp.num_classes:
        return None
    labels = (index * chunk_size + np.arange(chunk_size)) % exp.num_classes
    return exp.task.sample_condition(exp.spec, chunk_size, labels)


def _write_record(path: str, record: dict) -> None:
    """The latest record at the top level; every (features, count) kept under ``results``."""
    results = {}
    if fs.exists(path):
        try:
            results = json.loads(fs.read_text(path)).get("results", {})
        except (ValueError, AttributeError):
            results = {}
    key = f"{record['features_sha256'][:16]}_n{record['num_samples']}"
    results[key] = {k: record[k] for k in ("fid", "num_samples", "features", "wall_s")}
    fs.write_json(path, {**record, "results": results})


__all__ = ["FEATURES", "check_fid_config", "read_chunk", "reference_statistics",
           "resolve_features", "run", "run_name", "write_chunk"]
