"""Point clouds (N, 3) from the ``"pc:*"`` data sets: a permutation-equivariant denoiser,
generation metrics under PointFlow's protocol, 3-D scatter renders.

Evaluation (:meth:`PointCloudTask.extra_metrics`, on every sample record of
``--mode=eval``) compares generated clouds with held-out clouds of the evaluation split
(Achlioptas et al. 2018; Yang et al. 2019, PointFlow):

* both sets mapped back to the data's units with the reference's normalisation
  statistics (:func:`diffax.data.pointcloud.to_evaluation_units`: PointFlow's
  ``evaluate_gen``);
* MMD-CD, COV-CD, 1-NNA-CD with the (squared, summed both ways) Chamfer distance and
  MMD-EMD, COV-EMD, 1-NNA-EMD with the EMD (``diffax.metrics.point_cloud_generation``);
* per class when the model is class-conditional (the samples drawn for class k against
  the held-out clouds of class k), else over the whole split; plus their mean over
  classes;
* the **data floor**: the same metrics of as many *training* clouds (of the class)
  against the same held-out clouds, what a perfect model of the training set would
  score (1-NNA near 0.5, COV near its sampling limit, MMD at the data's own level).

``config.task.emd`` chooses the EMD: ``"exact"`` (Hungarian, O(n^3) per pair) or
``"sinkhorn"`` (entropic, epsilon 0.01); ``config.task.emd_points`` evaluates it on a fixed
random subset of that many points of every cloud (0: all; exact EMD at 2048 points
costs seconds per pair on a CPU). Chamfer always uses every point.
"""

from __future__ import annotations

import numpy as np

from diffax import checks
from diffax import filesystem as fs
from diffax.data.pointcloud import to_evaluation_units
from diffax.metrics import (coverage, minimum_matching_distance, one_nn_accuracy,
                            set_distance_matrix)
from experiments.tasks.base import ElementSpec, Task

EMD_KINDS = ("exact", "sinkhorn")


def set_scores(d: dict, suffix: str) -> dict:
    """MMD, COV and 1-NNA of one distance from precomputed matrices ``d`` (``"gg"``,
    ``"gr"``, ``"rr"``: generated-generated, generated-reference, reference-reference)."""
    return {f"mmd_{suffix}": float(minimum_matching_distance(d["gr"])),
            f"cov_{suffix}": float(coverage(d["gr"])),
            f"1nna_{suffix}": float(one_nn_accuracy((d["gg"], d["gr"], d["rr"])))}


def generation_scores(gen: np.ndarray, ref: np.ndarray, floor: np.ndarray | None = None, *,
                      emd: str = "exact", emd_points: int = 0, seed: int = 0) -> dict:
    """The six set metrics of ``gen`` (G, P, 3) against ``ref`` (R, P', 3), both in data
    units; with ``floor`` (training clouds), the same metrics of ``floor`` against
    ``ref`` under ``"data_floor"`` (the reference-reference matrices are shared)."""
    checks.choice("config.task", "emd", emd, EMD_KINDS)
    distance = "emd" if emd == "exact" else "sinkhorn"
    sets = {"model": gen} if floor is None else {"model": gen, "data_floor": floor}
    n = min(len(x[0]) for x in (gen, ref, *([] if floor is None else [floor])))
    pick = (np.sort(np.random.default_rng(seed).choice(n, emd_points, replace=False))
            if 0 < emd_points < n else slice(None))
    out: dict = {}
    ref_cache: dict = {}
    for name, clouds in sets.items():
        scores = {}
        for dist, suffix, sub in (("chamfer", "cd", slice(None)), (distance, "emd", pick)):
            g, r = np.asarray(clouds[:, sub]), np.asarray(ref[:, sub])
            if dist not in ref_cache:
                ref_cache[dist] = np.asarray(set_distance_matrix(r, r, dist))
            d = {"gg": np.asarray(set_distance_matrix(g, g, dist)),
                 "gr": np.asarray(set_distance_matrix(g, r, dist)), "rr": ref_cache[dist]}
            scores.update(set_scores(d, suffix))
        out[name] = scores
    return out


def scatter_grid(clouds: np.ndarray, path: str, reference: np.ndarray | None = None, *,
                 titles: list[str] | None = None, max_clouds: int = 16,
                 cols: int = 4) -> np.ndarray:
    """3-D scatter plots of up to ``max_clouds`` clouds (N, P, 3), ``cols`` per row, then a
    row of up to ``cols`` ``reference`` clouds; written to ``path`` (any diffax.filesystem
    path) and returned as (H, W, 3) uint8. Each cloud is drawn in its own cube around its
    centre with equal axes, so shapes are not distorted."""
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    clouds = np.asarray(clouds)[:max_clouds]
    ref = None if reference is None else np.asarray(reference)[:cols]
    rows = -(-len(clouds) // cols) + (0 if ref is None else 1)
    fig = plt.figure(figsize=(2.6 * cols, 2.6 * rows))
    panels = [(c, "generated" if titles is None else f"generated: {titles[i]}")
              for i, c in enumerate(clouds)]
    cells = list(range(len(panels)))
    if ref is not None:
        start = -(-len(clouds) // cols) * cols
        panels += [(c, "data") for c in ref]
        cells += [start + j for j in range(len(ref))]
    for (cloud, title), cell in zip(panels, cells):
        ax = fig.add_subplot(rows, cols, cell + 1, projection="3d")
        centre = (cloud.max(0) + cloud.min(0)) / 2
        half = float((cloud.max(0) - cloud.min(0)).max()) / 2 or 1.0
        ax.scatter(cloud[:, 0], cloud[:, 1], cloud[:, 2], s=4.0, c=cloud[:, 2],
                   cmap="viridis", depthshade=False)
        for setter, c in zip((ax.set_xlim, ax.set_ylim, ax.set_zlim), centre):
            setter(c - half, c + half)
        ax.set_box_aspect((1, 1, 1))
        ax.set_axis_off()
        ax.set_title(title, fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    fs.write_bytes(path, buf.getvalue())
    return np.asarray(Image.open(buf).convert("RGB"))


class PointCloudTask(Task):
    """Generation of point clouds; ``config.task``: ``emd``, ``emd_points`` (module
    docstring)."""

    name = "pointcloud"
    _pc_config = None       # the experiment's config, kept by spec() for extra_metrics
    _class_names = None

    def spec(self, config, dataset, example) -> ElementSpec:
        x = np.asarray(example["x"])
        if x.ndim != 3 or x.shape[-1] != 3:
            raise ValueError(f"task 'pointcloud' needs clouds (B, N, 3); {config.data.name!r} "
                             f"gives x of shape {x.shape} (use a 'pc:' data set).")
        want = dict(config.data.kwargs).get("num_points")
        if want is not None and x.shape[1] != want:
            raise ValueError(f"{config.data.name!r} gives clouds of {x.shape[1]} points, the "
                             f"config asks for data.kwargs.num_points={want}.")
        self._pc_config = config
        self._class_names = getattr(dataset, "class_names", None)
        return super().spec(config, dataset, example)

    def network_kwargs(self, config, spec: ElementSpec) -> dict:
        return {**dict(config.model.kwargs), "data_dim": spec.data_shape[-1],
                "num_classes": spec.num_classes}

    # -- evaluation ---------------------------------------------------------------------
    def extra_metrics(self, samples, condition, dataset) -> dict:
        """The generation metrics and the data floor (module docstring), per class for
        class-conditional samples."""
        config = self._pc_config
        if config is None:
            raise ValueError("PointCloudTask.extra_metrics: spec() was not called (build the "
                             "experiment with experiments.runner.build).")
        t = config.task
        emd, emd_points = t.get("emd", "exact"), int(t.get("emd_points", 0))
        test = self.dataset(config, config.eval.split)
        samples = np.asarray(samples, np.float64)
        if not np.all(np.isfinite(samples)):
            raise ValueError("pointcloud evaluation: generated clouds hold NaN or inf values.")
        labels = condition.get("label")
        groups = ({"all": (np.arange(len(samples)), np.arange(test.num_examples),
                           np.arange(dataset.num_examples))} if labels is None else
                  {name: (np.flatnonzero(np.asarray(labels) == k),
                          np.flatnonzero(test.labels == k), np.flatnonzero(dataset.labels == k))
                   for k, name in enumerate(test.class_names)})
        per_class = {}
        for name, (gi, ri, ti) in groups.items():
            if len(gi) == 0:
                continue
            ref_norm = test.normalizer.select(ri)
            gen_u, ref_u = to_evaluation_units(samples[gi][:len(ri)], test.points[ri],
                                               ref_norm)
            floor_idx = ti[:len(gen_u)]
            floor_u = dataset.denormalize(dataset.points[floor_idx], floor_idx)
            per_class[name] = {"num_generated": int(len(gen_u)), "num_reference": int(len(ri)),
                               **generation_scores(gen_u, ref_u, floor_u, emd=emd,
                                                   emd_points=emd_points, seed=config.seed)}
        mean = {side: {k: float(np.mean([c[side][k] for c in per_class.values()]))
                       for k in next(iter(per_class.values()))[side]}
                for side in ("model", "data_floor")}
        return {"pointcloud": {"protocol": f"PointFlow ({test.normalizer.mode} normalisation;"
                                           " metrics in data units)",
                               "emd": emd, "emd_points": emd_points or "all",
                               "chamfer": "squared, mean per direction, summed",
                               "per_class": per_class, "mean_over_classes": mean}}

    # -- pictures -----------------------------------------------------------------------
    def pictures(self, samples, path, reference=None):
        """A grid of 3-D scatter plots (up to 16 clouds), titled by the class they were
        drawn for, and a row of real clouds when ``reference`` is given."""
        names = self._class_names
        k = len(names) if names else 0
        titles = ([names[i % k] for i in range(len(samples))]
                  if k and self._pc_config is not None
                  and self._pc_config.model.class_conditional else None)
        return scatter_grid(np.asarray(samples), path,
                            None if reference is None else np.asarray(reference),
                            titles=titles)


__all__ = ["EMD_KINDS", "PointCloudTask", "generation_scores", "scatter_grid", "set_scores"]
