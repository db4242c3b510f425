"""Sparse-view 3-D CT with a 2-D slice prior: FBP, ADMM-TV and DiffusionMBIR (docs/mbir.md).

    python -m benchmarks.mbir --out DIR [--workdir runs/phantom_slices] [--views 8,16]
        [--steps 50] [--num-random 2]

Trains the slice prior of configs/image/phantom_slices.py into ``--workdir`` unless a
checkpoint is there, then reconstructs the 3-D Shepp-Logan phantom (never seen in
training) and ``--num-random`` held-out random-ellipsoid volumes (size^3, the prior's
slice size) from noiseless parallel-beam sinograms of every axial slice with K views:

* ``fbp``: filtered back-projection; ``tv``: ADMM with 3-D anisotropic TV;
* ``mbir``: DiffusionMBIR (per-slice diffusion + ADMM/CG with TV along z);
* ``mbir_slices``: the same with lam = 0 (independent slices, no TV along z).

Reports per volume and method PSNR (data range 1, whole volume), SSIM (mean over axial
slices and over coronal slices: the second sees the coherence across slices) and wall
time, into DIR/mbir.json; DIR/mbir_<K>views.png shows the Shepp-Logan phantom in the
three planes (truth and each method).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from diffax import training
from diffax.data import phantoms
from diffax.inverse import Radon, admm_tv, diffusion_mbir, fbp
from diffax.metrics import psnr, ssim
from diffax.samplers import schedules

TV = dict(lam=0.05, rho=1.0, n_iter=50, n_cg=3)            # physical units f in [0, 1]
MBIR = dict(lam=0.1, rho=1.0, n_cg=3, eta=1.0, consistency="x0")  # model units x = 2f - 1


def load_prior(workdir: str):
    """(model_fn, process, prediction kind, config) of the trained slice prior."""
    from configs.image import phantom_slices
    from experiments import runner

    config = phantom_slices.get_config()
    if not os.path.isdir(os.path.join(workdir, "checkpoints")):
        runner.train(config, workdir)
    exp, graphdef, state = runner.restore(config, workdir)
    params = training.eval_params(state, config.sampling.params)
    apply = training.network_apply(graphdef)
    model_fn = exp.model_fn(lambda x, c, **kw: apply(params, state.buffers, x, c, **kw))
    return model_fn, exp.process, exp.kind, config


def scores(x: np.ndarray, truth: np.ndarray) -> dict:
    """PSNR of the volume, SSIM over axial (z) and coronal (y) slices; volumes [z, y, x]."""
    axial = ssim(x[..., None], truth[..., None])
    coronal = ssim(np.moveaxis(x, 1, 0)[..., None], np.moveaxis(truth, 1, 0)[..., None])
    return {"psnr_db": float(psnr(x[None], truth[None])[0]),
            "ssim_axial": float(axial.mean()), "ssim_coronal": float(coronal.mean())}


def reconstruct(method: str, y: jax.Array, op: Radon, prior, steps: int, key) -> np.ndarray:
    """The (D, N, N) reconstruction in [0, 1] of sinograms ``y`` (D, K, N) of f."""
    d, _, n = y.shape
    if method == "fbp":
        x = fbp(y, op)
    elif method == "tv":
        x = jax.jit(lambda y: admm_tv(y, op, jnp.zeros((d, n, n, 1)), axes=(0, 1, 2), **TV))(y)
    else:
        model_fn, process, kind, _ = prior
        y_model = 2.0 * y - op(jnp.ones((d, n, n, 1)))  # A (2 f - 1)
        opts = dict(MBIR, lam=0.0) if method == "mbir_slices" else MBIR
        ts = schedules.karras(process, steps)
        k_init, k_run = jax.random.split(key)
        x_init = process.prior_sample(k_init, (d, n, n, 1))
        run = jax.jit(lambda x_init, y: diffusion_mbir(
            model_fn, process, x_init, ts, operator=op, y=y, key=k_run, prediction=kind,
            **opts).x)
        x = (run(x_init, y_model) + 1.0) / 2.0
    return np.clip(np.asarray(x)[..., 0], 0.0, 1.0)


def montage(path: str, truth: np.ndarray, recs: dict, views: int) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = {"truth": truth, **recs}
    n = truth.shape[0]
    planes = {"axial (z)": lambda v: v[n // 2 + 2], "coronal (y)": lambda v: v[:, n // 2],
              "sagittal (x)": lambda v: v[:, :, n // 2]}
    fig, axes = plt.subplots(3, len(cols), figsize=(2.2 * len(cols), 6.6))
    for j, (name, vol) in enumerate(cols.items()):
        for i, (plane, cut) in enumerate(planes.items()):
            ax = axes[i, j]
            ax.imshow(cut(vol), cmap="gray", vmin=0.0, vmax=0.5, origin="upper")
            ax.set_xticks([]), ax.set_yticks([])
            if i == 0:
                ax.set_title(name, fontsize=9)
            if j == 0:
                ax.set_ylabel(plane, fontsize=9)
    fig.suptitle(f"Shepp-Logan {n}^3, {views} views (window [0, 0.5])", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--workdir", default="runs/phantom_slices")
    ap.add_argument("--views", default="8,16")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--num-random", type=int, default=2)
    ap.add_argument("--methods", default="fbp,tv,mbir,mbir_slices")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    prior = load_prior(args.workdir)
    size = int(prior[3].data.kwargs.size)
    volumes = {"shepp_logan": phantoms.shepp_logan_3d(size)}
    for i, rng in enumerate(phantoms.volume_seeds("test", args.num_random, seed=0)):
        volumes[f"random_{i}"] = phantoms.random_phantom(rng, size)
    methods = args.methods.split(",")
    records = []
    for views in [int(v) for v in args.views.split(",")]:
        op = Radon.sparse_view(views)
        for name, truth in volumes.items():
            y = op(jnp.asarray(truth)[..., None])
            recs = {}
            for method in methods:
                t0 = time.perf_counter()
                recs[method] = reconstruct(method, y, op, prior, args.steps,
                                           jax.random.PRNGKey(0))
                rec = {"volume": name, "views": views, "method": method,
                       "wall_s": time.perf_counter() - t0, **scores(recs[method], truth)}
                records.append(rec)
                print(json.dumps(rec), flush=True)
            if name == "shepp_logan":
                montage(os.path.join(args.out, f"mbir_{views}views.png"), truth, recs, views)
    out = {"size": size, "steps": args.steps, "tv": TV, "mbir": MBIR,
           "prior_config": "configs/image/phantom_slices.py",
           "device": jax.devices()[0].device_kind, "records": records}
    with open(os.path.join(args.out, "mbir.json"), "w") as f:
        json.dump(out, f, indent=1)
    return out


if __name__ == "__main__":
    main()
