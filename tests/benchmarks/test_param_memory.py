"""benchmarks.param_memory: the bytes on device 0 of replicated and FSDP-sharded states."""

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import param_memory
from diffax import training


def test_device0_bytes_counts_only_the_local_shard():
    mesh = training.make_mesh(shape=(4, 2))
    x = jnp.ones((64, 32), jnp.float32)
    rep = training.replicate(x, mesh)
    split = jax.device_put(x, training.sharding.fsdp_shardings(x, mesh, 1))
    dev = mesh.devices.flat[0]
    assert param_memory.device0_bytes(rep, dev) == 64 * 32 * 4
    assert param_memory.device0_bytes(split, dev) == 64 * 32 * 4 // 2
    assert param_memory.device0_bytes({"a": rep, "b": split}, dev) == 64 * 32 * 4 * 3 // 2


def test_toy_config_records():
    records = param_memory.measure("configs/toy/gmm2d.py", [2, 8], [1024])
    assert [r["mesh"] for r in records] == [[8, 1], [4, 2], [1, 8]]
    rep = records[0]
    # float32 params, Adam's two moments (+ a few scalar counters), one EMA; replicated
    n, b = rep["num_params"], rep["bytes_device0"]
    assert b["params"] == b["ema"] == 4 * n
    assert 0 <= b["opt_state"] - 8 * n <= 64
    assert rep["param_opt_ema_bytes"] == b["params"] + b["opt_state"] + b["ema"]
    for r in records[1:]:
        assert 0.9 < r["sharded_param_fraction"] < 1
        np.testing.assert_allclose(r["ratio_to_replicated"], r["ideal_ratio"], rtol=1e-3)
        assert r["per_device_total_equal"]
    assert "| mlp |" in param_memory.table(records)
