"""Train the FD-FMNIST reference classifier (diffax.features.fmnist_cnn), reproducibly.

    python -m experiments.train_fmnist_classifier --out diffax/features/weights [--steps 2400]

Fixed seed, Adam with a cosine schedule, batches of 128 drawn by a seeded permutation of
the 60,000 training images (scaled to [-1, 1], random horizontal flips), evaluated on the
10,000 test images. Writes ``fmnist_cnn_v1.npz`` and ``fmnist_cnn_v1.json`` (test
accuracy, seed, steps, wall time, SHA-256 of the npz).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from diffax.data import get_dataset
from diffax.features import fmnist_cnn


def to_model_space(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 127.5 - 1.0


def accuracy(params, x: np.ndarray, y: np.ndarray, batch: int = 1000) -> float:
    f = jax.jit(lambda xb: jnp.argmax(fmnist_cnn.logits(params, xb), -1))
    pred = np.concatenate([np.asarray(f(to_model_space(x[i:i + batch])))
                           for i in range(0, len(x), batch)])
    return float(np.mean(pred == y))


def train(steps: int, seed: int, batch: int = 128, lr: float = 2e-3):
    train_set = get_dataset("fashion_mnist", split="train")
    x, y = train_set.x, np.asarray(train_set.label)
    params = fmnist_cnn.init_params(jax.random.PRNGKey(seed))
    tx = optax.adamw(optax.warmup_cosine_decay_schedule(0.0, lr, 100, steps, lr * 0.02),
                     weight_decay=1e-4)
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, xb, yb):
        def loss_fn(p):
            lp = jax.nn.log_softmax(fmnist_cnn.logits(p, xb))
            return -jnp.mean(jnp.take_along_axis(lp, yb[:, None], -1))

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    rng = np.random.default_rng(seed)
    per_epoch = len(x) // batch
    perm = rng.permutation(len(x))
    for i in range(steps):
        if i % per_epoch == 0 and i:
            perm = rng.permutation(len(x))
        idx = perm[(i % per_epoch) * batch:(i % per_epoch + 1) * batch]
        xb = to_model_space(x[idx])
        flip = rng.random(batch) < 0.5
        xb[flip] = xb[flip, :, ::-1]
        params, opt_state, loss = step(params, opt_state, xb, y[idx].astype(np.int32))
        if i % 200 == 0 or i == steps - 1:
            print(f"step {i:5d}  loss {float(loss):.4f}", flush=True)
    return params


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=fmnist_cnn.WEIGHTS_DIR)
    ap.add_argument("--steps", type=int, default=2400)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    params = train(args.steps, args.seed)
    wall = time.perf_counter() - t0
    test = get_dataset("fashion_mnist", split="test")
    acc = accuracy(params, test.x, np.asarray(test.label))
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "fmnist_cnn_v1.npz")
    fmnist_cnn.save_params(params, path)
    record = {"name": "fmnist_cnn_v1", "test_accuracy": acc, "seed": args.seed,
              "steps": args.steps, "batch": 128, "train_wall_s": wall,
              "device": jax.devices()[0].device_kind, "jax": jax.__version__,
              "npz_bytes": os.path.getsize(path), "sha256": fmnist_cnn.sha256(path)}
    with open(os.path.join(args.out, "fmnist_cnn_v1.json"), "w") as f:
        json.dump(record, f, indent=1)
    print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
