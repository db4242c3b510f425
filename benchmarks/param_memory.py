"""Parameter + optimizer memory per device: replicated (data parallel) against FSDP.

    python -m benchmarks.param_memory --out docs/benchmarks/param_memory_cpu
        [--config configs/image/fashion_mnist_edm.py,configs/image/fashion_mnist_dit.py]
        [--model-axis 2,4,8] [--min-size 16384,1024] [--devices 8]

For each config the script builds the experiment as ``experiments.runner`` does (network,
Adam state, EMA copies, objective state), places the ``TrainState`` on ``--devices``
devices (simulated on a CPU: ``XLA_FLAGS=--xla_force_host_platform_device_count``, set
here before jax is imported) replicated on the 1-D mesh and FSDP-sharded on each
(devices/m, m) mesh for m in ``--model-axis`` (``runner.place_state``, once for each
``training.fsdp_min_size`` in ``--min-size``), and sums the bytes of the shards that live on device 0,

    bytes on device 0 = sum over leaves of the size x itemsize of its shard on device 0,

per ``TrainState`` field. With a fraction f of the elements in sharded leaves, FSDP over m
devices gives (1 - f) + f / m of the replicated bytes (``ideal_ratio``).

Writes DIR/param_memory.json ({"meta", "records"}) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import sys


def _set_devices(n: int) -> None:
    if "jax" in sys.modules:
        return
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()


def device0_bytes(tree, device) -> int:
    """Bytes of the shards of ``tree``'s leaves that live on ``device``."""
    import jax
    total = 0
    for leaf in jax.tree.leaves(tree):
        for shard in leaf.addressable_shards:
            if shard.device == device:
                total += shard.data.size * shard.data.dtype.itemsize
    return total


def measure(config_path: str, model_axes: list[int], min_sizes: list[int]) -> list[dict]:
    """One record per layout (replicated, then FSDP for each m and threshold) of
    ``config_path``."""
    import jax
    from jax.sharding import PartitionSpec as P

    from diffax import nn, training
    from experiments import runner

    config = runner.load_config(config_path)
    exp = runner.build(config)
    tx, _ = runner._optimizer(config)
    _, state = runner._initial_state(exp, tx)
    n = jax.device_count()
    layouts = [(n, 1, min_sizes[0])] + [(n // m, m, k) for k in min_sizes for m in model_axes]
    records, base = [], None
    for data, m, min_size in layouts:
        config.training.mesh_shape = (data, m)
        config.training.fsdp_min_size = min_size
        mesh = runner.train_mesh(config)
        placed = runner.place_state(config, state, mesh)
        dev = mesh.devices.flat[0]
        fields = {f: device0_bytes(getattr(placed, f), dev)
                  for f in ("params", "opt_state", "ema", "aux", "buffers")}
        rest = device0_bytes(placed, dev) - sum(fields.values())
        total = fields["params"] + fields["opt_state"] + fields["ema"] + fields["aux"]
        base = total if base is None else base
        sizes = [a.size for a in jax.tree.leaves(state.params)]
        frac = sum(s for a, s in zip(jax.tree.leaves(state.params), sizes)
                   if training.sharding.fsdp_spec(a.shape, m, min_size) != P()) / sum(sizes)
        records.append({
            "config": config_path, "network": config.model.name,
            "num_params": nn.count_params(exp.network), "mesh": [data, m],
            "fsdp_min_size": min_size, "bytes_device0": fields | {"other": rest},
            "param_opt_ema_bytes": total, "ratio_to_replicated": total / base,
            "sharded_param_fraction": frac,
            "ideal_ratio": (1 - frac) + frac / m if m > 1 else 1.0,
            "per_device_total_equal": len({device0_bytes(placed, d) for d in
                                           mesh.devices.flat}) == 1,
        })
        del placed
    return records


def table(records: list[dict]) -> str:
    head = ("| network | params | mesh (data x model) | min size | params MiB | Adam MiB | "
            "EMA MiB | total MiB | vs replicated | ideal |")
    lines = [head, "|" + "---|" * 10]
    mib = 2 ** 20
    for r in records:
        b = r["bytes_device0"]
        lines.append(
            f"| {r['network']} | {r['num_params']:,} | {r['mesh'][0]} x {r['mesh'][1]} | "
            f"{r['fsdp_min_size'] if r['mesh'][1] > 1 else '-'} | "
            f"{b['params'] / mib:.3f} | {b['opt_state'] / mib:.3f} | {b['ema'] / mib:.3f} | "
            f"{r['param_opt_ema_bytes'] / mib:.3f} | {r['ratio_to_replicated']:.3f} | "
            f"{r['ideal_ratio']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--config", default="configs/image/fashion_mnist_edm.py,"
                                        "configs/image/fashion_mnist_dit.py")
    p.add_argument("--model-axis", default="2,4,8")
    p.add_argument("--min-size", default="16384,1024",
                   help="training.fsdp_min_size values (elements), comma-separated")
    p.add_argument("--devices", type=int, default=8)
    args = p.parse_args(argv)
    _set_devices(args.devices)
    import json
    import platform

    import jax

    if jax.device_count() != args.devices:
        raise SystemExit(f"--devices={args.devices} but jax sees {jax.device_count()} "
                         f"(set XLA_FLAGS before jax is imported).")
    axes = [int(m) for m in args.model_axis.split(",")]
    bad = [m for m in axes if m < 2 or args.devices % m]
    if bad:
        raise SystemExit(f"--model-axis {bad}: each must be >= 2 and divide {args.devices}.")
    min_sizes = [int(k) for k in args.min_size.split(",")]
    if any(k < 1 for k in min_sizes):
        raise SystemExit(f"--min-size {min_sizes}: each must be >= 1.")
    records = [r for c in args.config.split(",") for r in measure(c, axes, min_sizes)]
    meta = {"jax": jax.__version__, "platform": jax.devices()[0].platform,
            "devices": jax.device_count(), "machine": platform.machine(),
            "what": "bytes of TrainState shards on device 0 (params, Adam state, EMA, aux)"}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "param_memory.json"), "w") as f:
        json.dump({"meta": meta, "records": records}, f, indent=1)
    print(table(records))


if __name__ == "__main__":
    main()
