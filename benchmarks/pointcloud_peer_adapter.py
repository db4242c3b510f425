"""Peer side of benchmarks/pointcloud_peer.py: trains luost26/diffusion-point-cloud's
generation model (Luo & Hu 2021, "Diffusion Probabilistic Models for 3D Point Cloud
Generation", CVPR) on clouds exported by diffax and draws new clouds from it.

Run by the peer's own interpreter (torch; benchmarks/requirements-pointcloud-peer.txt);
diffax is not imported here and none of the peer's code is copied: its modules are
imported from a checkout outside the repository (``--peer-path``, put on ``sys.path``):
``models.vae_flow.FlowVAE`` (PointNet encoder q(z|X), a 14-layer affine-coupling flow as
the prior p(z), and the point-wise DDPM decoder p(X|z): ``PointwiseNet`` of
ConcatSquash layers, epsilon loss, 100 steps, betas linear in [1e-4, 0.02]),
``models.common.get_linear_scheduler`` and ``utils.misc.seed_all``. The loss is the
peer's ``FlowVAE.get_loss``:

    L = E_t ||eps - eps_theta(sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, beta_t, z)||^2
        + kl_weight (-H[q(z|X)] - log p_flow(z)),

and sampling its ``FlowVAE.sample``: z = flow^-1(w), w ~ N(0, I), then 100 ancestral
DDPM steps with sigma_t^2 = beta_t (1 - abar_{t-1}) / (1 - abar_t) (flexibility 0).

The training loop follows the peer's ``train_gen.py`` step by step (Adam, gradient norm
clipped at ``max_grad_norm``, the peer's linear learning-rate decay, one batch a step
from a set shuffled once and read in order, as its ``DataLoader`` without ``shuffle``
does), with the defaults of its argument parser except the sizes the caller scales
(steps, batch, the decay window); see ``PEER_DEFAULTS``.

Input (``--data``, .npz): ``train_x`` float32 (N, P, 3), the training clouds in diffax's
model space. Output: ``--out`` (.npy, (S, P, 3) float32 samples in the same space) and
``--out`` with .json beside it: wall times, steps, parameter count, the losses, the
recipe and versions.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import types

import numpy as np

#: train_gen.py's argument defaults for the flow model (values, read at commit b037c5f).
PEER_DEFAULTS = dict(model="flow", latent_dim=256, num_steps=100, beta_1=1e-4, beta_T=0.02,
                     sched_mode="linear", flexibility=0.0, truncate_std=2.0,
                     latent_flow_depth=14, latent_flow_hidden_dim=256, kl_weight=1e-3,
                     residual=True, spectral_norm=False, train_batch_size=128,
                     val_batch_size=64, lr=2e-3, weight_decay=0.0, max_grad_norm=10.0,
                     end_lr=1e-4, sched_start_epoch=200_000, sched_end_epoch=400_000,
                     seed=2020)


def scaled_schedule(steps: int) -> tuple[int, int]:
    """The peer's learning-rate window scaled to ``steps``: it holds ``lr`` for the first
    200k iterations and decays linearly to ``end_lr`` at 400k, i.e. constant for the
    first half of a 400k-step run and linear over the second half; the same fractions
    of ``steps``."""
    if steps < 2:
        raise ValueError(f"pointcloud_peer_adapter: steps must be >= 2, got {steps}.")
    return steps // 2, steps


def batch_order(n: int, batch_size: int, steps: int, seed: int) -> list[np.ndarray]:
    """Indices of the clouds of each training step: one shuffle of the ``n`` clouds with
    ``random.Random(seed)`` (the peer shuffles its set once, with seed 2020), then
    consecutive batches of ``batch_size`` in that order, the last one of each pass
    shorter when ``batch_size`` does not divide ``n`` (``DataLoader`` without shuffle
    or ``drop_last``, restarted when exhausted: the peer's ``get_data_iterator``)."""
    if n < 1 or batch_size < 1 or steps < 0:
        raise ValueError(f"batch_order: need n >= 1, batch_size >= 1, steps >= 0; got "
                         f"n={n}, batch_size={batch_size}, steps={steps}.")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    passes = [np.asarray(order[i:i + batch_size]) for i in range(0, n, batch_size)]
    return [passes[k % len(passes)] for k in range(steps)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help=".npz with train_x (N, P, 3)")
    p.add_argument("--out", required=True, help="samples (.npy); a .json goes beside it")
    p.add_argument("--peer-path", required=True, help="checkout of diffusion-point-cloud")
    p.add_argument("--steps", type=int, required=True, help="optimizer steps")
    p.add_argument("--batch-size", type=int, required=True)
    p.add_argument("--num-samples", type=int, required=True)
    p.add_argument("--seed", type=int, default=PEER_DEFAULTS["seed"])
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    p.add_argument("--log-every", type=int, default=50)
    args = p.parse_args()

    sys.path.insert(0, os.path.abspath(args.peer_path))
    import torch
    from torch.nn.utils import clip_grad_norm_
    from models.common import get_linear_scheduler  # the peer's models/common.py
    from models.vae_flow import FlowVAE  # the peer's models/vae_flow.py
    from utils.misc import seed_all  # the peer's utils/misc.py

    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    seed_all(args.seed)
    start, end = scaled_schedule(args.steps)
    hp = types.SimpleNamespace(**{**PEER_DEFAULTS, "train_batch_size": args.batch_size,
                                  "sched_start_epoch": start, "sched_end_epoch": end,
                                  "seed": args.seed})
    train_x = np.asarray(np.load(args.data)["train_x"], np.float32)
    n, num_points, _ = train_x.shape
    clouds = torch.as_tensor(train_x)

    model = FlowVAE(hp)
    num_params = sum(q.numel() for q in model.parameters())
    optimizer = torch.optim.Adam(model.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
    scheduler = get_linear_scheduler(optimizer, start_epoch=hp.sched_start_epoch,
                                     end_epoch=hp.sched_end_epoch, start_lr=hp.lr,
                                     end_lr=hp.end_lr)
    print(f"[peer] FlowVAE {num_params} parameters, {n} clouds of {num_points} points, "
          f"{args.steps} steps of batch {args.batch_size}, lr {hp.lr} held to step {start} "
          f"then linear to {hp.end_lr} at {end}", flush=True)

    class Scalars:  # receives the peer's writer.add_scalar calls of get_loss
        last: dict = {}

        def add_scalar(self, name, value, it):
            self.last[name.split("/")[-1]] = float(getattr(value, "detach", lambda: value)())

    scalars = Scalars()
    losses = []
    t0, cpu0 = time.perf_counter(), time.process_time()
    for it, idx in enumerate(batch_order(n, args.batch_size, args.steps, args.seed), 1):
        optimizer.zero_grad()
        model.train()
        loss = model.get_loss(clouds[idx], kl_weight=hp.kl_weight, writer=scalars, it=it)
        loss.backward()
        grad_norm = clip_grad_norm_(model.parameters(), hp.max_grad_norm)
        optimizer.step()
        scheduler.step()
        if it % args.log_every == 0 or it == args.steps:
            losses.append({"step": it, "loss": float(loss.detach()),
                           "grad_norm": float(grad_norm),
                           "lr": float(optimizer.param_groups[0]["lr"]),
                           **{k: scalars.last[k] for k in ("loss_recons", "loss_prior",
                                                           "loss_entropy")}})
            print(f"[peer] step {it} loss {losses[-1]['loss']:.4f} (diffusion "
                  f"{losses[-1]['loss_recons']:.4f}) grad {losses[-1]['grad_norm']:.3f}",
                  flush=True)
    train_wall, train_cpu = time.perf_counter() - t0, time.process_time() - cpu0

    model.eval()
    out, t0 = [], time.perf_counter()
    with torch.no_grad():
        for s in range(0, args.num_samples, hp.val_batch_size):
            b = min(hp.val_batch_size, args.num_samples - s)
            z = torch.randn([b, hp.latent_dim])
            out.append(model.sample(z, num_points, flexibility=hp.flexibility).numpy())
    sample_wall = time.perf_counter() - t0
    samples = np.concatenate(out).astype(np.float32)
    print(f"[peer] trained in {train_wall:.1f} s; {len(samples)} clouds sampled in "
          f"{sample_wall:.1f} s", flush=True)
    np.save(args.out, samples)
    base = os.path.splitext(args.out)[0]

    # Diagnostics of the latent prior: the encoder's posterior means of the training
    # clouds pushed through the flow (w = F(z); the prior is N(0, I) on w, so a fitted
    # prior gives rms(w) near 1), and the decoder given those posterior means
    # (autoencoded training clouds, saved for scoring next to the generated ones).
    with torch.no_grad():
        z_mu, z_logvar = model.encoder(clouds)
        w = model.flow(z_mu, reverse=False)
        w_prior = torch.randn([len(samples), hp.latent_dim])
        z_prior = model.flow(w_prior, reverse=True)
        k = min(len(samples), n)
        recon = model.diffusion.sample(num_points, context=z_mu[:k],
                                       flexibility=hp.flexibility).numpy()
    np.save(base + "_autoencoded.npy", recon.astype(np.float32))

    def rms(t):
        return float(t.pow(2).mean().sqrt())

    latent = {"posterior_mean_rms": rms(z_mu),
              "posterior_std_mean": float((0.5 * z_logvar).exp().mean()),
              "flow_of_posterior_mean_rms": rms(w),
              "prior_sample_z_rms": rms(z_prior),
              "autoencoded": f"{os.path.basename(base)}_autoencoded.npy: the first {k} "
                             "training clouds decoded from their posterior means"}
    print(f"[peer] latents: {latent}", flush=True)
    info = {"steps": args.steps, "batch_size": args.batch_size, "num_params": num_params,
            "train_wall_s": train_wall, "train_cpu_s": train_cpu, "sample_wall_s": sample_wall,
            "sampling_s_per_cloud": sample_wall / len(samples), "nfe": hp.num_steps,
            "losses": losses, "recipe": vars(hp), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "latent": latent,
            "finite": bool(np.isfinite(samples).all())}
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(info, f, indent=2)


if __name__ == "__main__":
    main()
