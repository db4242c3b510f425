"""Time-step schedules: endpoints, monotonicity, the defining formula of each."""

import numpy as np
import pytest

from diffax.processes import EDM, VE, DiscreteDDPM, RectifiedFlow, VPCosine, VPLinear
from diffax.samplers import schedules

PROCESSES = [VPLinear(), VPCosine(), VE(), EDM(), RectifiedFlow(), DiscreteDDPM.linear()]
CONTINUOUS = ["uniform_time", "uniform_log_snr", "quadratic_time", "karras"]


@pytest.mark.parametrize("name", CONTINUOUS)
@pytest.mark.parametrize("process", PROCESSES, ids=lambda p: p.name)
def test_endpoints_and_monotone(x64, name, process):
    ts = np.asarray(schedules.get_schedule(name, process, 12))
    assert ts.shape == (13,)
    np.testing.assert_allclose([ts[0], ts[-1]], [process.t_max, process.t_min], rtol=1e-12)
    assert np.all(np.diff(ts) < 0)


def test_uniform_log_snr_is_uniform_in_lambda(x64):
    p = VPLinear()
    lam = np.asarray(p.log_snr(schedules.uniform_log_snr(p, 10)))
    np.testing.assert_allclose(np.diff(lam), np.full(10, (lam[-1] - lam[0]) / 10), rtol=1e-9)


def test_quadratic_is_uniform_in_sqrt_t(x64):
    ts = np.asarray(schedules.quadratic_time(VPLinear(), 8))
    d = np.diff(np.sqrt(ts))
    np.testing.assert_allclose(d, d[0], rtol=1e-9)


def test_karras_on_edm_matches_eq5(x64):
    p = EDM()
    ts = np.asarray(schedules.karras(p, 17, rho=7.0))
    i = np.arange(18)
    expect = (80 ** (1 / 7) + i / 17 * (0.002 ** (1 / 7) - 80 ** (1 / 7))) ** 7
    np.testing.assert_allclose(ts, expect, rtol=1e-10)
    np.testing.assert_allclose(ts, np.asarray(p.karras_timesteps(18)), rtol=1e-10)


def test_karras_on_vp_uses_edm_noise_level(x64):
    """On a VP process the schedule is Karras in s = sigma/alpha."""
    p = VPLinear()
    ts = schedules.karras(p, 9, rho=3.0)
    s = np.asarray(p.sigma(ts) / p.alpha(ts))
    r = s ** (1 / 3)
    np.testing.assert_allclose(np.diff(r), np.diff(r)[0], rtol=1e-8)


@pytest.mark.parametrize("spacing,n,expect", [
    ("trailing", 10, [999, 899, 799, 699, 599, 499, 399, 299, 199, 99, 0]),
    ("leading", 10, [901, 801, 701, 601, 501, 401, 301, 201, 101, 1, 0]),
    ("linspace", 4, [999, 749, 500, 250, 0]),
])
def test_discrete_spacings(x64, spacing, n, expect):
    p = DiscreteDDPM.linear()
    ts = np.asarray(schedules.discrete(p, n, spacing))
    np.testing.assert_allclose(ts * 1000 - 1, expect, atol=1e-9)
    np.testing.assert_allclose(np.asarray(p.model_step(ts)), expect, atol=1e-9)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="unknown schedule 'nope'"):
        schedules.get_schedule("nope", VPLinear(), 10)
    with pytest.raises(ValueError, match="n must be an integer >= 1, got n=0"):
        schedules.uniform_time(VPLinear(), 0)
    with pytest.raises(ValueError, match="outside"):
        schedules.uniform_time(VPLinear(), 5, t_start=2.0)
    with pytest.raises(ValueError, match="t_start > t_end"):
        schedules.uniform_time(VPLinear(), 5, t_start=0.1, t_end=0.5)
    with pytest.raises(ValueError, match="DiscreteDDPM"):
        schedules.discrete(VPLinear(), 10)
    with pytest.raises(ValueError, match="unknown discrete spacing"):
        schedules.discrete(DiscreteDDPM.linear(), 10, "middle")
    with pytest.raises(ValueError, match="rho"):
        schedules.karras(EDM(), 5, rho=0.0)
