"""benchmarks/emd_timing: the exact values against brute force, the relative errors and
the table from the JSON, and the settings it reports being the evaluation's."""

import itertools
import json

import numpy as np
import pytest

from benchmarks import emd_timing as bench


def _brute_force_emd(a: np.ndarray, b: np.ndarray) -> float:
    cost = np.linalg.norm(a[:, None].astype(np.float64) - b[None], axis=-1)
    rows = np.arange(len(a))
    return min(cost[rows, list(p)].mean() for p in itertools.permutations(rows))


def test_run_on_tiny_clouds_writes_exact_values_errors_and_table(tmp_path, capsys):
    payload = bench.main(["--out", str(tmp_path), "--points", "6,7", "--pairs", "2,1",
                          "--extra-epsilons", "0.001,0.1", "--extra-iters", "400"])
    with open(tmp_path / "emd_timing.json") as f:
        assert json.load(f) == payload
    first, second = payload["records"]
    assert (first["num_points"], first["num_pairs"]) == (6, 2)
    assert (second["num_points"], second["num_pairs"]) == (7, 1)
    pairs = bench.cloud_pairs(6, 2)
    assert pairs.shape == (2, 2, 6, 3)
    # float32 costs: values agree with the float64 brute force to float32 rounding
    want = [_brute_force_emd(a, b) for a, b in pairs]
    np.testing.assert_allclose(first["exact_emd"], want, rtol=1e-5)
    # Sinkhorn's plan is feasible up to its marginal error: its cost is near, not below,
    # the optimum by more than that; on 6 points epsilon 0.01 is within a few percent
    sink, exact = np.asarray(first["sinkhorn_emd"]), np.asarray(first["exact_emd"])
    np.testing.assert_allclose(first["rel_error"], (sink - exact) / exact, rtol=1e-12)
    assert np.all(np.abs(first["rel_error"]) < 0.05)
    assert first["rel_error_max_abs"] == pytest.approx(np.abs(first["rel_error"]).max())
    assert len(first["exact_s"]) == len(first["sinkhorn_s"]) == 2
    assert min(first["exact_s"] + first["sinkhorn_s"]) > 0
    assert set(first["compile_s"]) == {"exact", "sinkhorn"}
    # the error shrinks with epsilon (entropic bias ~ epsilon)
    small, large = first["extra"]
    assert (small["epsilon"], small["n_iters"], large["epsilon"]) == (0.001, 400, 0.1)
    assert abs(small["rel_error_mean"]) < first["rel_error_max_abs"] < large["rel_error_mean"]
    out = capsys.readouterr().out
    assert "| 6 | 2 |" in out and "| 7 | 1 |" in out
    assert "| 6 | 0.001 | 400 |" in out and "| 7 | 0.1 | 400 |" in out


def test_pairs_share_a_class_and_differ():
    from diffax.data.pointcloud.shapes import generate_shapes

    pairs = bench.cloud_pairs(5, 7)
    points, labels = generate_shapes("test", num_per_class=4, num_points=5)
    # pair 6 is class 0 again, its clouds 2 and 3; pair 1 is class 1, clouds 0 and 1
    np.testing.assert_array_equal(pairs[6], points[[2, 3]])
    np.testing.assert_array_equal(pairs[1], points[[4, 5]])
    assert labels[4] == labels[5] == 1
    assert not np.array_equal(pairs[0, 0], pairs[0, 1])


def test_reported_settings_are_the_evaluations_sinkhorn():
    import jax.numpy as jnp

    from diffax.metrics import sinkhorn_emd
    from diffax.metrics.point_cloud_generation import _DISTANCES

    s = bench.sinkhorn_settings()
    assert s == {"epsilon": 1e-2, "n_iters": 300, "scaling": 0.9}
    a, b = (jnp.asarray(c) for c in bench.cloud_pairs(9, 1)[0])
    assert float(_DISTANCES["sinkhorn"](a, b)) == pytest.approx(
        float(sinkhorn_emd(a, b, **s)), rel=1e-6)


def test_table_and_record_from_known_values():
    rec = bench.size_record(4, {"exact": [1.0, 2.0], "sinkhorn": [1.1, 1.9]},
                            {"exact": [0.3, 0.1], "sinkhorn": [0.2, 0.2]},
                            {"exact": 1.0, "sinkhorn": 2.0})
    assert rec["rel_error"] == pytest.approx([0.1, -0.05])
    assert rec["rel_error_mean"] == pytest.approx(0.025)
    assert rec["exact_s_median"] == pytest.approx(0.2)
    assert rec["exact_over_sinkhorn"] == pytest.approx(1.0)  # median of 1.5 and 0.5
    meta = {"device": "cpu", "host_cpu": "x", "host_cores": 2, "load_before": [1.0, 0, 0],
            "load_after": [2.0, 0, 0], "sinkhorn": bench.sinkhorn_settings()}
    lines = bench.table({"meta": meta, "records": [rec]}).splitlines()
    assert lines[-1] == "| 4 | 2 | 0.2 | 0.2 | 1 | 1.5000 | +2.50e-02 | 1.00e-01 |"
    with pytest.raises(ValueError, match="positive exact values"):
        bench.size_record(4, {"exact": [0.0], "sinkhorn": [1.0]}, {}, {})
    with pytest.raises(ValueError, match="--pairs needs one value or one per --points"):
        bench.main(["--out", "/tmp/unused", "--points", "4,5,6", "--pairs", "1,2"])
