"""``diffax/samplers/consistency_grid.py`` against a NumPy transcription of its grids
(consistency_by_hand.py), written for its mutation run (docs/testing.md): t(r) and r(t)
point by point on EDM and VP-linear for the three grids -- "uniform_time" (LCM's evenly
spaced timesteps, Luo et al. 2023, Sec. 4.3), "karras" (Karras et al. 2022, eq. 5 with
rho = 7, in s = sigma / alpha) and "log_snr" -- including r outside [0, 1] (clamped on
the non-uniform grids, t(0) = t_min and t(1) = t_max exactly), Hyper-SD's boundaries
b_j = t(j / s) (Ren et al. 2024, Sec. 3.1), the default grid of each function, float32
in float32 out (under x64), and every refusal with its whole message.

Float64 runs: rtol 1e-12 against the transcription (rounding only, measured below).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import consistency_by_hand as H
from linear_step_problem import P, float64, refusal
from diffax.processes import EDM
from diffax.samplers import consistency_grid as cg

E = EDM()
PROCS = (("edm", E, H.EDM_), ("vp", P, H.VP_))
R = np.array([-0.5, 0.0, 0.05, 0.3, 0.5, 0.77, 1.0, 1.5])
RTOL = 1e-12  # float64 exp / log / sqrt chains: measured at most 1.4e-15
RTOL32 = 1e-5  # float32 grids: measured at most 8.3e-7
CHOICES = "valid choices: ['uniform_time', 'karras', 'log_snr']."


def test_every_refusal_in_full():
    assert cg.GRIDS == ("uniform_time", "karras", "log_snr") and cg.KARRAS_RHO == 7.0
    assert cg.check_grid_name("here", "karras") == "karras"
    assert refusal(cg.check_grid_name, "here", "ddpm") == f"here: unknown grid 'ddpm'; {CHOICES}"
    assert refusal(cg.grid_time, E, 0.5, "sigma") == f"grid_time: unknown grid 'sigma'; {CHOICES}"
    assert refusal(cg.grid_position, E, 1.0, "Karras") == (
        f"grid_position: unknown grid 'Karras'; {CHOICES}")
    assert refusal(cg.segment_boundaries, E, 2, "sigma") == (
        f"segment_boundaries: unknown grid 'sigma'; {CHOICES}")
    for bad in (0, 2.0):
        assert refusal(cg.segment_boundaries, E, bad) == (
            f"segment_boundaries: num_segments must be an integer >= 1, got "
            f"num_segments={bad}.")


def _program(r64, r32):
    """Every value the tests read, from one compiled program (float64 and float32
    inputs; the grid names and segment counts are static)."""
    out = {}
    for pname, p, proc in PROCS:
        for grid in cg.GRIDS:
            k = (pname, grid)
            out[k + ("t",)] = t = cg.grid_time(p, r64, grid)
            inside = jnp.asarray(R_INSIDE_IDX)
            out[k + ("back",)] = cg.grid_position(p, t[inside], grid)
            out[k + ("ends",)] = cg.grid_position(p, jnp.array([p.t_min, p.t_max]), grid)
            out[k + ("t32",)] = cg.grid_time(p, r32, grid)
            mid = jnp.asarray(H.grid_time(proc, R[2:-2], grid), jnp.float32)
            out[k + ("r32",)] = cg.grid_position(p, mid, grid)
            for s in (1, 3, 4):
                out[k + ("b", s)] = cg.segment_boundaries(p, s, grid)
        # the defaults
        out[(pname, "default", "t")] = cg.grid_time(p, r64)
        kar = jnp.asarray(H.grid_time(proc, R[1:-1], "karras"))
        out[(pname, "default", "r")] = cg.grid_position(p, kar)
        out[(pname, "default", "b")] = cg.segment_boundaries(p, 3)
    return out


R_INSIDE_IDX = np.flatnonzero((R > 0) & (R < 1))


@pytest.fixture(scope="module")
def values():
    with float64():
        out = jax.jit(_program)(jnp.asarray(R), jnp.asarray(R, jnp.float32))
        return {k: np.asarray(v) for k, v in out.items()}


@pytest.mark.parametrize("grid", cg.GRIDS)
def test_grid_time_and_position_in_float64(values, grid):
    for pname, p, proc in PROCS:
        k = (pname, grid)
        t = values[k + ("t",)]
        np.testing.assert_allclose(t, H.grid_time(proc, R, grid), rtol=RTOL)
        back = values[k + ("back",)]
        np.testing.assert_allclose(back, H.grid_position(proc, t[R_INSIDE_IDX], grid),
                                   rtol=RTOL)
        np.testing.assert_allclose(back, R[R_INSIDE_IDX], rtol=RTOL)
        np.testing.assert_allclose(values[k + ("ends",)], [0.0, 1.0], rtol=0, atol=1e-15)
        if grid != "uniform_time":  # clamped, and the ends exact
            assert t.tolist()[:2] == [p.t_min, p.t_min] and t.tolist()[-2:] == [p.t_max,
                                                                               p.t_max]


def test_defaults_are_the_uniform_grid(values):
    """Every function's default grid is "uniform_time" (exercised by calls without it)."""
    for pname, _, proc in PROCS:
        np.testing.assert_allclose(values[(pname, "default", "t")],
                                   H.grid_time(proc, R, "uniform_time"), rtol=RTOL)
        t = H.grid_time(proc, R[1:-1], "karras")
        np.testing.assert_allclose(values[(pname, "default", "r")],
                                   H.grid_position(proc, t, "uniform_time"), rtol=RTOL)
        np.testing.assert_allclose(values[(pname, "default", "b")],
                                   H.boundaries(proc, 3, "uniform_time"), rtol=RTOL32)


@pytest.mark.parametrize("grid", cg.GRIDS)
def test_float32_in_float32_out(values, grid):
    """float32 r and t give float32 results under x64 (segment_boundaries always: its
    indices are float32), within float32 rounding of the transcription."""
    for pname, _, proc in PROCS:
        k = (pname, grid)
        t = values[k + ("t32",)]
        assert t.dtype == np.float32
        np.testing.assert_allclose(t, H.grid_time(proc, R, grid), rtol=RTOL32)
        r = values[k + ("r32",)]
        assert r.dtype == np.float32
        np.testing.assert_allclose(r, H.grid_position(proc, H.grid_time(proc, R[2:-2], grid),
                                                      grid), rtol=RTOL32)
        for s in (1, 3, 4):
            b = values[k + ("b", s)]
            assert b.dtype == np.float32 and b.shape == (s + 1,)
            np.testing.assert_allclose(b, H.boundaries(proc, s, grid), rtol=RTOL32)
