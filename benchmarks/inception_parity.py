"""Parity of diffax's flax Inception-v3 with pytorch-fid, and its CPU/GPU throughput.

    python -m benchmarks.inception_parity --out DIR --torch-python /usr/bin/python3 \
        [--pytorch-fid-path DIR_WITH_pytorch_fid] [--fixture tests/features/data/...npz]

No pretrained weights are needed: both implementations get the same seeded random
weights (benchmarks/inception_random_weights.py; diffax's copy goes through
``experiments.convert_inception_weights.convert_state_dict``, exactly as real weights
would) and the same seeded images. ``--torch-python`` is an interpreter with torch,
torchvision and pytorch-fid (e.g. Debian's python3-torch + python3-torchvision and
``pip download --no-deps pytorch-fid``, unpacked onto ``--pytorch-fid-path``). Writes
DIR/inception_parity.json: max absolute and relative differences of the resized input,
pool3 and the 1008 logits, and diffax's images/s at batch 50 (299x299). ``--fixture``
also writes the small reference the unit test compares against (2 RGB images of 75x75,
fed unresized, so the test's forward pass is cheap; the resize has its own test).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
#: The unit-test reference: 2 RGB images at the smallest size the network accepts.
FIXTURE_SIZE = 75


def torch_shapes() -> dict[str, tuple[int, ...]]:
    """PyTorch names and shapes of the FID Inception parameters, derived from the flax
    network (the inverse of the converter's mapping)."""
    from diffax.features import inception_v3
    inv = {"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}
    out = {}
    for key, shape in inception_v3.param_shapes().items():
        parts = key.split("/")
        if parts[0] == "fc":
            out["fc." + ("weight" if parts[1] == "kernel" else "bias")] = (
                shape[::-1] if parts[1] == "kernel" else shape)
        elif parts[-1] == "kernel":
            kh, kw, cin, cout = shape
            out[".".join(parts[:-1]) + ".weight"] = (cout, cin, kh, kw)
        else:
            out[".".join(parts[:-1]) + "." + inv[parts[-1]]] = shape
    return out


def diffax_model(seed: int):
    """The flax network holding the seeded random weights, converted from torch layout."""
    from benchmarks.inception_random_weights import random_state_dict
    from diffax.features import inception_v3
    from experiments.convert_inception_weights import convert_state_dict
    return inception_v3.model_from_params(convert_state_dict(
        random_state_dict(torch_shapes(), seed)))


def torch_reference(args, *, n: int, size: int, channels: int, resize: bool) -> dict:
    """Run the torch side on seeded images; returns its arrays."""
    with tempfile.TemporaryDirectory() as tmp:
        ref_path = os.path.join(tmp, "torch_reference.npz")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            x for x in (HERE, args.pytorch_fid_path) if x))
        subprocess.run([args.torch_python, os.path.join(HERE, "inception_parity_torch.py"),
                        "--out", ref_path, "--seed", str(args.seed), "--n", str(n),
                        "--size", str(size), "--channels", str(channels),
                        "--resize", str(int(resize))], check=True, env=env)
        with np.load(ref_path) as f:
            return {k: f[k] for k in f.files}


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def images_per_sec(model, batch: int = 50, repeats: int = 3) -> dict:
    from diffax.features import inception_v3
    fn = jax.jit(lambda x: model.features(inception_v3.preprocess(x)))
    x = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (batch, 28, 28, 1)), jnp.float32)
    t0 = time.perf_counter()
    fn(x).block_until_ready()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn(x).block_until_ready()
    return {"batch": batch, "compile_s": compile_s,
            "images_per_sec": batch * repeats / (time.perf_counter() - t0)}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--torch-python", default="/usr/bin/python3")
    p.add_argument("--pytorch-fid-path", default="", help="directory holding pytorch_fid/")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--fixture", default="", help="also write a 2-image reference npz here")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)

    ref = torch_reference(args, n=args.n, size=28, channels=1, resize=True)
    from diffax.features import inception_v3
    model = diffax_model(args.seed)
    x = inception_v3.preprocess(ref["images"])
    pool3 = np.asarray(jax.jit(lambda x: model.features(x))(x))
    logits = np.asarray(model.fc(jnp.asarray(pool3)))
    torch_version = subprocess.run([args.torch_python, "-c", "import torch, torchvision; "
                                    "print(torch.__version__, torchvision.__version__)"],
                                   capture_output=True, text=True).stdout.split()
    result = {
        "reference": "pytorch-fid 0.3 fid_inception_v3 / InceptionV3([3], resize_input=True)",
        "torch": torch_version[0] if torch_version else None,
        "torchvision": torch_version[1] if len(torch_version) > 1 else None,
        "seed": args.seed, "num_images": int(ref["images"].shape[0]),
        "image_shape": list(ref["images"].shape[1:]),
        "resize_max_abs": float(np.max(np.abs(np.asarray(x) - ref["resized"]))),
        "pool3_max_abs": float(np.max(np.abs(pool3 - ref["pool3"]))),
        "pool3_rel": rel(pool3, ref["pool3"]),
        "pool3_scale": float(np.max(np.abs(ref["pool3"]))),
        "logits_rel": rel(logits, ref["logits"]),
        "device": jax.devices()[0].device_kind, "platform": jax.devices()[0].platform,
        "throughput": images_per_sec(model),
    }
    with open(os.path.join(args.out, "inception_parity.json"), "w") as f:
        json.dump(result, f, indent=1)
    if args.fixture:   # small and unresized, so the unit test's forward pass is cheap
        small = torch_reference(args, n=2, size=FIXTURE_SIZE, channels=3, resize=False)
        os.makedirs(os.path.dirname(os.path.abspath(args.fixture)), exist_ok=True)
        np.savez(args.fixture, seed=args.seed, size=FIXTURE_SIZE, pool3=small["pool3"],
                 logits=small["logits"])
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
