"""Reference side of benchmarks/csdi_reference.py: trains the reference CSDI
(ermongroup/CSDI, PyTorch) on windows exported by diffax and imputes the held-out targets.

Run by an interpreter that has torch and CSDI's requirements (the separate venv of
docs/csdi_reference.md, pinned in benchmarks/requirements-csdi-reference.txt); diffax is
not imported here. CSDI's own code is imported from a fetched checkout (``--csdi-path``,
put on ``sys.path``), never copied: its ``CSDI_Physio`` model (the generic (B, L, K)
batch layout: ``observed_data``, ``observed_mask``, ``timepoints``, ``gt_mask``), its
``utils.train`` loop (Adam 1e-3, weight decay 1e-6, learning rate x0.1 at 75% and 90% of
the epochs) and its ``config/base.yaml`` defaults (50 DDPM steps, quadratic schedule,
random target strategy) with the width and the batch size overridden by the caller, and
the number of epochs chosen so that the number of optimizer steps is ``--steps``.

Input (``--data``, .npz): ``train_x``, ``train_observed_mask`` (N, L, K), ``train_time``
(N, L); ``test_x``, ``test_observed_mask``, ``test_cond_mask`` (M, L, K), ``test_time``
(M, L); ``mean``, ``std`` (K,). Values are normalised and 0 where missing. Output
(``--out``, .npz): ``samples`` (S, M, L, K) in normalised units, and ``--out`` with .json:
wall times, step count, parameter count, versions, and CSDI's own metrics
(``utils.calc_quantile_CRPS`` and the MAE / RMSE of the median, as in
``utils.evaluate``) of the same samples on ``test_observed_mask - test_cond_mask``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np

#: diffax's CSDI keyword -> CSDI's config/base.yaml key
WIDTH_KEYS = {"channels": ("diffusion", "channels"), "layers": ("diffusion", "layers"),
              "nheads": ("diffusion", "nheads"),
              "diffusion_embedding_dim": ("diffusion", "diffusion_embedding_dim"),
              "timeemb": ("model", "timeemb"), "featureemb": ("model", "featureemb")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="windows and masks (.npz)")
    p.add_argument("--out", required=True, help="samples (.npz); a .json goes beside it")
    p.add_argument("--csdi-path", required=True, help="checkout of ermongroup/CSDI")
    p.add_argument("--steps", type=int, required=True, help="optimizer steps")
    p.add_argument("--batch-size", type=int, default=16, help="CSDI's default: 16")
    p.add_argument("--samples", type=int, default=100, help="imputations per window")
    p.add_argument("--eval-batch-size", type=int, default=16)
    p.add_argument("--width", default="{}",
                   help="JSON overrides of " + ", ".join(WIDTH_KEYS) + " ({}: CSDI's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: all cores)")
    args = p.parse_args()

    sys.path.insert(0, os.path.abspath(args.csdi_path))
    import torch
    import yaml
    import utils as csdi_utils  # CSDI's utils.py
    from main_model import CSDI_Physio  # CSDI's main_model.py

    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    with open(os.path.join(args.csdi_path, "config", "base.yaml")) as f:
        config = yaml.safe_load(f)
    for name, value in json.loads(args.width).items():
        section, key = WIDTH_KEYS[name]
        config[section][key] = value

    d = dict(np.load(args.data))
    n_train, length, k = d["train_x"].shape
    batches_per_epoch = math.ceil(n_train / args.batch_size)
    epochs = math.ceil(args.steps / batches_per_epoch)
    per_epoch = math.ceil(args.steps / epochs)
    config["train"].update(epochs=epochs, batch_size=args.batch_size,
                           itr_per_epoch=per_epoch)
    steps = epochs * min(per_epoch, batches_per_epoch)

    class Windows(torch.utils.data.Dataset):
        def __init__(self, x, observed, time_, gt):
            self.x, self.observed, self.time, self.gt = x, observed, time_, gt

        def __len__(self):
            return len(self.x)

        def __getitem__(self, i):
            return {"observed_data": self.x[i], "observed_mask": self.observed[i],
                    "timepoints": self.time[i], "gt_mask": self.gt[i]}

    train = Windows(d["train_x"], d["train_observed_mask"], d["train_time"],
                    d["train_observed_mask"])  # gt_mask: unused by the random strategy
    loader = torch.utils.data.DataLoader(train, batch_size=args.batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(args.seed))
    model = CSDI_Physio(config, "cpu", target_dim=k)
    num_params = sum(q.numel() for q in model.parameters())
    print(f"[csdi] {num_params} parameters, {n_train} windows of ({length}, {k}), "
          f"{epochs} epochs x {min(per_epoch, batches_per_epoch)} steps of batch "
          f"{args.batch_size}, config {json.dumps(config)}", flush=True)

    t0 = time.perf_counter()
    csdi_utils.train(model, config["train"], loader, foldername="")
    train_wall = time.perf_counter() - t0
    print(f"[csdi] trained {steps} steps in {train_wall:.1f} s", flush=True)

    model.eval()
    test_x, test_obs = d["test_x"], d["test_observed_mask"]
    cond = d["test_cond_mask"]
    m = len(test_x)
    torch.save(model.state_dict(), os.path.splitext(args.out)[0] + "_model.pth")

    # Diagnostic: CSDI's training loss (epsilon MSE on the hidden values) of the held-out
    # windows and masks at every diffusion step t (its calc_loss with set_t).
    with torch.no_grad():
        held = model.process_data({"observed_data": torch.as_tensor(test_x),
                                   "observed_mask": torch.as_tensor(test_obs),
                                   "timepoints": torch.as_tensor(d["test_time"]),
                                   "gt_mask": torch.as_tensor(cond)})
        side = model.get_side_info(held[2], held[3])
        torch.manual_seed(args.seed + 1)
        loss_by_t = [float(model.calc_loss(held[0], held[3], held[1], side, 0, set_t=t))
                     for t in range(model.num_steps)]
    out, t0 = [], time.perf_counter()
    for start in range(0, m, args.eval_batch_size):
        sl = slice(start, start + args.eval_batch_size)
        batch = {"observed_data": torch.as_tensor(test_x[sl]),
                 "observed_mask": torch.as_tensor(test_obs[sl]),
                 "timepoints": torch.as_tensor(d["test_time"][sl]),
                 "gt_mask": torch.as_tensor(cond[sl])}
        samples = model.evaluate(batch, args.samples)[0]  # (B, S, K, L)
        out.append(samples.permute(1, 0, 3, 2).numpy())  # (S, B, L, K)
    impute_wall = time.perf_counter() - t0
    samples = np.concatenate(out, axis=1).astype(np.float32)
    print(f"[csdi] {args.samples} imputations of {m} windows in {impute_wall:.1f} s",
          flush=True)

    # CSDI's own scores of the same samples (utils.evaluate's formulas), for comparison
    # with diffax.metrics on the diffax side.
    target = torch.as_tensor(test_x)
    eval_points = torch.as_tensor(test_obs * (1.0 - cond))
    mean, std = torch.as_tensor(d["mean"]).float(), torch.as_tensor(d["std"]).float()
    forecast = torch.as_tensor(samples).permute(1, 0, 2, 3)  # (M, S, L, K)
    median = forecast.median(dim=1).values
    count = eval_points.sum().item()
    own = {"crps": csdi_utils.calc_quantile_CRPS(target, forecast, eval_points, mean, std),
           "crps_sum": csdi_utils.calc_quantile_CRPS_sum(target, forecast, eval_points,
                                                         mean, std),
           "mae": (torch.abs((median - target) * eval_points) * std).sum().item() / count,
           "rmse": math.sqrt((((median - target) * eval_points * std) ** 2).sum().item()
                             / count)}

    np.savez(args.out, samples=samples)
    info = {"steps": steps, "epochs": epochs, "batch_size": args.batch_size,
            "num_params": num_params, "samples": args.samples,
            "diffusion_steps": config["diffusion"]["num_steps"], "nfe": config["diffusion"][
                "num_steps"], "train_wall_s": train_wall, "impute_wall_s": impute_wall,
            "imputations_per_s": args.samples * m / max(impute_wall, 1e-9),
            "torch": torch.__version__, "threads": torch.get_num_threads(),
            "config": config, "csdi_own_metrics": own,
            "heldout_loss_by_step": loss_by_t}
    with open(os.path.splitext(args.out)[0] + ".json", "w") as f:
        json.dump(info, f, indent=2)


if __name__ == "__main__":
    main()
