"""Exact against Sinkhorn EMD on "shapes" point clouds: wall time per pair and the
Sinkhorn value's relative error (issue 18, "Speed and scale").

    python -m benchmarks.emd_timing --out DIR [--points 128,512,2048] [--pairs 12,12,6]
        [--extra-epsilons 0.003,0.03 --extra-iters 1000]

For each number of points N, ``--pairs`` pairs of held-out "shapes" clouds in data units
(pair k: two clouds of class k mod 6, as the evaluation compares clouds of one class) are
compared with the two EMDs exactly as the evaluation computes them
(``diffax.metrics.point_cloud_generation``'s ``"emd"`` and ``"sinkhorn"`` distances, one
pair per call, float32):

* exact: ``EMD(A, B) = min_phi 1/N sum_a |a - phi(a)|``, Hungarian method in JAX loops
  (``diffax.metrics.assignment``), O(N^3);
* Sinkhorn: the transport cost ``<P, C>`` of the log-domain Sinkhorn plan with
  ``sinkhorn_emd``'s defaults (final epsilon 0.01 in data units, 300 iterations,
  epsilon scaling 0.9 per iteration; Cuturi 2013, Schmitzer 2019), O(N^2) per iteration.

Both are compiled ahead of time (``jit(...).lower(...).compile()``; the compile time is
reported apart and excluded), then every pair is timed once per method, the two methods
alternating which goes first (the time ratio is the median over pairs of the ratio
within a pair, which saw the same load). The relative error is ``(sinkhorn - exact) / exact`` per
pair. The host's load average is recorded before and after (the timings on a shared
machine are inflated by it).

Writes DIR/emd_timing.json and prints the Markdown table.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import time

import numpy as np

from benchmarks.timing import host_info, paired_speedup


def sinkhorn_settings() -> dict:
    """The Sinkhorn settings the evaluation uses (``sinkhorn_emd``'s defaults)."""
    from diffax.metrics import sinkhorn_emd

    params = inspect.signature(sinkhorn_emd).parameters
    return {k: params[k].default for k in ("epsilon", "n_iters", "scaling")}


def cloud_pairs(num_points: int, num_pairs: int, seed: int = 0) -> np.ndarray:
    """``(num_pairs, 2, num_points, 3)`` float32: pairs of held-out "shapes" clouds in data
    units, pair k from class k mod 6 (clouds 2j and 2j + 1 of it, j = k div 6)."""
    from diffax.data.pointcloud.shapes import SHAPE_CLASSES, generate_shapes

    if num_pairs < 1 or num_points < 1:
        raise ValueError(f"emd_timing: need num_points >= 1 and num_pairs >= 1, got "
                         f"{num_points} and {num_pairs}.")
    classes = len(SHAPE_CLASSES)
    per_class = 2 * (-(-num_pairs // classes))
    points, _ = generate_shapes("test", num_per_class=per_class, num_points=num_points,
                                seed=seed)
    idx = [(k % classes) * per_class + 2 * (k // classes) for k in range(num_pairs)]
    return np.stack([points[[i, i + 1]] for i in idx])


def time_size(num_points: int, num_pairs: int, seed: int = 0,
              extra_epsilons: tuple[float, ...] = (), extra_iters: int = 1000) -> dict:
    """Wall times and values of both EMDs on ``num_pairs`` pairs of ``num_points`` points;
    ``extra_epsilons``: Sinkhorn at other final epsilons too (``extra_iters`` iterations,
    timed after the main pass), for the error an epsilon buys."""
    import jax

    from diffax.metrics import sinkhorn_emd

    from diffax.metrics.point_cloud_generation import _DISTANCES

    pairs = cloud_pairs(num_points, num_pairs, seed)
    a0, b0 = jax.numpy.asarray(pairs[0, 0]), jax.numpy.asarray(pairs[0, 1])
    compiled, compile_s = {}, {}
    for method, name in (("exact", "emd"), ("sinkhorn", "sinkhorn")):
        t0 = time.perf_counter()
        compiled[method] = jax.jit(_DISTANCES[name]).lower(a0, b0).compile()
        compile_s[method] = time.perf_counter() - t0
    values = {m: [] for m in compiled}
    walls = {m: [] for m in compiled}
    for k, (a, b) in enumerate(pairs):
        a, b = jax.device_put(a), jax.device_put(b)
        order = list(compiled) if k % 2 == 0 else list(compiled)[::-1]
        for method in order:
            t0 = time.perf_counter()
            v = float(compiled[method](a, b))  # float() blocks until the value is ready
            walls[method].append(time.perf_counter() - t0)
            values[method].append(v)
    record = size_record(num_points, values, walls, compile_s)
    exact = np.asarray(values["exact"])
    record["extra"] = []
    for eps in extra_epsilons:
        fn = jax.jit(lambda a, b, e=eps: sinkhorn_emd(a, b, epsilon=e, n_iters=extra_iters))
        fn = fn.lower(a0, b0).compile()
        vals, secs = [], []
        for a, b in pairs:
            t0 = time.perf_counter()
            vals.append(float(fn(a, b)))
            secs.append(time.perf_counter() - t0)
        rel = (np.asarray(vals) - exact) / exact
        record["extra"].append({"epsilon": eps, "n_iters": extra_iters, "values": vals,
                                "rel_error_mean": float(rel.mean()),
                                "rel_error_max_abs": float(np.abs(rel).max()),
                                "s_median": float(np.median(secs))})
    return record


def size_record(num_points: int, values: dict, walls: dict, compile_s: dict) -> dict:
    """The JSON record of one size from per-pair values and wall times (seconds)."""
    exact, sink = np.asarray(values["exact"]), np.asarray(values["sinkhorn"])
    if exact.shape != sink.shape or exact.size == 0 or np.any(exact <= 0):
        raise ValueError(f"emd_timing: need as many positive exact values as Sinkhorn "
                         f"values, got {exact.tolist()} and {sink.tolist()}.")
    rel = (sink - exact) / exact
    return {"num_points": num_points, "num_pairs": int(exact.size),
            "exact_emd": exact.tolist(), "sinkhorn_emd": sink.tolist(),
            "rel_error": rel.tolist(), "rel_error_mean": float(rel.mean()),
            "rel_error_max_abs": float(np.abs(rel).max()),
            "exact_s": walls["exact"], "sinkhorn_s": walls["sinkhorn"],
            "exact_s_median": float(np.median(walls["exact"])),
            "sinkhorn_s_median": float(np.median(walls["sinkhorn"])),
            "exact_over_sinkhorn": paired_speedup(walls["exact"], walls["sinkhorn"]),
            "compile_s": compile_s}


def table(payload: dict) -> str:
    """Markdown table of an emd_timing payload (one row per number of points)."""
    meta = payload["meta"]
    s = meta["sinkhorn"]
    lines = [f"{meta['device']} ({meta['host_cpu']}, {meta['host_cores']} cores), load "
             f"average {meta['load_before'][0]:.1f} before / {meta['load_after'][0]:.1f} "
             f"after; Sinkhorn epsilon {s['epsilon']}, {s['n_iters']} iterations, scaling "
             f"{s['scaling']}; float32, one pair per call, compile excluded.", "",
             "| points | pairs | exact s/pair | Sinkhorn s/pair | exact / Sinkhorn time "
             "(median per pair) | "
             "mean exact EMD | Sinkhorn rel. error mean | max abs |",
             "|---" * 8 + "|"]
    for r in payload["records"]:
        lines.append(f"| {r['num_points']} | {r['num_pairs']} | {r['exact_s_median']:.4g} | "
                     f"{r['sinkhorn_s_median']:.4g} | "
                     f"{r['exact_over_sinkhorn']:.3g} | "
                     f"{np.mean(r['exact_emd']):.4f} | {r['rel_error_mean']:+.2e} | "
                     f"{r['rel_error_max_abs']:.2e} |")
    extra = [(r["num_points"], e) for r in payload["records"] for e in r.get("extra", [])]
    if extra:
        lines += ["", "| points | Sinkhorn epsilon | iterations | s/pair | rel. error mean | "
                  "max abs |", "|---" * 6 + "|"]
        lines += [f"| {n} | {e['epsilon']:g} | {e['n_iters']} | {e['s_median']:.4g} | "
                  f"{e['rel_error_mean']:+.2e} | {e['rel_error_max_abs']:.2e} |"
                  for n, e in extra]
    return "\n".join(lines)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--points", default="128,512,2048")
    p.add_argument("--pairs", default="12,12,6",
                   help="pairs per number of points (one value, or one per --points)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--extra-epsilons", default="",
                   help="also Sinkhorn at these final epsilons (error against epsilon)")
    p.add_argument("--extra-iters", type=int, default=1000)
    args = p.parse_args(argv)
    points = [int(v) for v in args.points.split(",") if v]
    pairs = [int(v) for v in args.pairs.split(",") if v]
    if len(pairs) == 1:
        pairs = pairs * len(points)
    if len(pairs) != len(points):
        raise ValueError(f"emd_timing: --pairs needs one value or one per --points "
                         f"({len(points)}), got {args.pairs!r}.")
    import jax

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "emd_timing.json")
    payload = {"meta": {"device": jax.devices()[0].device_kind, "jax": jax.__version__,
                        **host_info(), "load_before": list(os.getloadavg()),
                        "sinkhorn": sinkhorn_settings(), "seed": args.seed},
               "records": []}
    for n, k in zip(points, pairs):
        payload["records"].append(time_size(
            n, k, args.seed, tuple(float(e) for e in args.extra_epsilons.split(",") if e),
            args.extra_iters))
        payload["meta"]["load_after"] = list(os.getloadavg())
        with open(path, "w") as f:
            json.dump(payload, f, indent=1)
        r = payload["records"][-1]
        print(f"{n} points: exact {r['exact_s_median']:.4g} s, Sinkhorn "
              f"{r['sinkhorn_s_median']:.4g} s per pair, rel. error "
              f"{r['rel_error_mean']:+.2e}", flush=True)
    print(table(payload))
    print(f"-> {path}")
    return payload


if __name__ == "__main__":
    main()
