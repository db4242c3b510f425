"""benchmarks.samplers --resume on fabricated samplers.json files: records of a killed run
with the same settings are kept (not recomputed), the cached exact reference is reused,
and a file written with other settings is refused with the differing settings named.

Importing benchmarks.samplers switches float64 on; the x64 fixture restores the flag."""

import json
import os

import numpy as np
import pytest

BATCH, SEED, RTOL = 16, 0, 1e-10


@pytest.fixture
def bench(x64):
    from benchmarks import samplers

    return samplers


def meta(bench, **changes):
    m = {"process": "DiscreteDDPM.linear(1000, 1e-4, 0.02)", "batch_accuracy": BATCH,
         "batch_timing": 8, "seed": SEED, "schedule": "uniform_time", "timing_dims": [],
         "reference": f"diffrax Dopri8, rtol=atol={RTOL:g}, float64",
         "reference_wall_s": {"gmm2d": 42.0}, "device": "old device"}
    return {**m, **changes}


def write(out_dir, meta, records):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "samplers.json"), "w") as f:
        json.dump({"meta": meta, "records": records}, f)


SENTINEL = {"problem": "gmm2d", "sampler": "euler", "nfe": 10, "nfe_budget": 10, "steps": 10,
            "schedule": "uniform_time", "rmse_to_exact": 123.0, "median_err_to_exact": 1.0,
            "mode_flip_rate": 0.5, "sw2_to_data": 7.0}


def test_resumable_records(bench, tmp_path):
    out = str(tmp_path)
    assert bench._resumable_records(out, meta(bench, reference_wall_s={})) == []  # no file
    write(out, meta(bench), [SENTINEL])
    new = meta(bench, reference_wall_s={"gmm16d": 1.0}, device="new device")
    assert bench._resumable_records(out, new) == [SENTINEL]
    # the old reference wall times are merged in; the device may differ
    assert new["reference_wall_s"] == {"gmm16d": 1.0, "gmm2d": 42.0}
    with pytest.raises(ValueError, match=r"other settings \(old, new\): \{'seed': \(0, 1\), "
                                         r"'schedule': \('uniform_time', 'karras'\)\}; use "
                                         r"another --out"):
        bench._resumable_records(out, meta(bench, seed=1, schedule="karras"))


def test_run_resumes_a_killed_sweep(bench, tmp_path):
    """The euler record is fabricated (rmse 123): a resumed run keeps it as it is and only
    runs ddim. The cached reference (zeros) is used instead of a Dopri8 solve, so ddim's
    RMSE is the RMS norm of its samples."""
    out = str(tmp_path)
    write(out, meta(bench), [SENTINEL])
    np.save(os.path.join(out, f"reference_gmm2d_b{BATCH}_s{SEED}_r{RTOL:g}.npy"),
            np.zeros((BATCH, 2)))
    records = bench.run(out, [10], [2], BATCH, 8, SEED, "uniform_time", timing_dims=(),
                        ref_rtol=RTOL, resume=True, samplers=["euler", "ddim"])
    assert [(r["sampler"], r["steps"]) for r in records] == [("euler", 10), ("ddim", 10)]
    assert records[0] == SENTINEL
    ddim = records[1]
    assert "error" not in ddim and ddim["nfe"] == 10
    with open(os.path.join(out, "samplers.json")) as f:
        blob = json.load(f)
    assert blob["records"] == records
    assert blob["meta"]["reference_wall_s"] == {"gmm2d": 42.0}  # the run that computed it
    # RMS of samples of a mixture with means ~1.2: far above a real endpoint error
    assert ddim["rmse_to_exact"] > 0.5, ddim
    assert os.path.exists(os.path.join(out, "samplers.png"))
    # without --resume the file is started again
    fresh = bench.run(out, [10], [2], BATCH, 8, SEED, "uniform_time", timing_dims=(),
                      ref_rtol=RTOL, samplers=["ddim"])
    assert [r["sampler"] for r in fresh] == ["ddim"]
    assert fresh[0]["rmse_to_exact"] == ddim["rmse_to_exact"]  # same seeds, same numbers
