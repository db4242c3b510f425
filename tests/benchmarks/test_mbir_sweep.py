"""benchmarks/mbir --sweep-lam/--sweep-rho: a sweep cell is the benchmark's own MBIR
reconstruction at that (lam, rho), the grid reaches the solver, and the table."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import mbir as bench
from diffax.data import phantoms
from diffax.inverse import Radon
from diffax.processes import get_process

PRIOR = (lambda x, t: jnp.tanh(0.5 * x), get_process("edm"), "x0", None)  # any x0 model
VOLUMES = {"shepp_logan": phantoms.shepp_logan_3d(12)}


def test_sweep_cells_equal_the_benchmarks_reconstruction():
    key = jax.random.PRNGKey(0)
    lam, rho = bench.MBIR["lam"], bench.MBIR["rho"]
    other_rho = rho / 3  # a second value, whatever the benchmark's default
    records = bench.sweep(PRIOR, VOLUMES, 4, 3, [lam, 0.0], [rho, other_rho], key)
    assert [(r["volume"], r["lam"], r["rho"]) for r in records] == [
        ("shepp_logan", a, b) for a in (lam, 0.0) for b in (rho, other_rho)]
    op = Radon.sparse_view(4)
    truth = VOLUMES["shepp_logan"]
    y = op(jnp.asarray(truth)[..., None])
    want = bench.scores(bench.reconstruct("mbir", y, op, PRIOR, 3, key), truth)
    # lam and rho traced instead of constants: the same arithmetic up to rounding
    assert records[0]["psnr_db"] == pytest.approx(want["psnr_db"], abs=1e-3)
    assert records[0]["ssim_coronal"] == pytest.approx(want["ssim_coronal"], abs=1e-5)
    # lam and rho reach the solver: each changes the volume
    psnr = [r["psnr_db"] for r in records]
    assert len(set(np.round(psnr, 4))) == 4, psnr


def test_sweep_table_rows():
    recs = [{"volume": v, "lam": lam, "rho": 1.0, "psnr_db": 20.0 + lam,
             "ssim_coronal": 0.5} for lam in (0.1, 0.3) for v in ("a", "b")]
    lines = bench.sweep_table(recs).splitlines()
    assert lines[0] == "| lam | rho | a PSNR / SSIM cor. | b PSNR / SSIM cor. |"
    assert lines[3] == "| 0.3 | 1 | 20.30 / 0.500 | 20.30 / 0.500 |"


def test_sweep_needs_both_grids(tmp_path):
    with pytest.raises(ValueError, match="needs both --sweep-lam and --sweep-rho"):
        bench.main(["--out", str(tmp_path), "--sweep-lam", "0.1"])
