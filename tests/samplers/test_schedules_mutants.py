"""Time-step schedules against by-hand NumPy transcriptions of their formulas, written for
the mutation run of ``diffax/samplers/schedules.py`` (docs/testing.md): the earlier tests
checked the EDM Karras grid with an explicit ``rho``, the full default intervals and
fragments of the messages, so the default rho = 7, the sub-intervals, the exact end
points, the discrete clips and offsets and most messages were not pinned.

* ``uniform_time``: t_i = t_0 + i/n (t_1 - t_0);
* ``uniform_log_snr``: lambda_i uniform between lambda(t_0) and lambda(t_1), t_i = t(lambda_i),
  the ends set to t_0 and t_1 exactly;
* ``quadratic_time``: sqrt(t_i) uniform between sqrt(t_0) and sqrt(t_1);
* ``karras``: Karras et al. (2022), eq. (5), in s = sigma/alpha = exp(-lambda/2):
  s_i = (s_max^(1/rho) + i/n (s_min^(1/rho) - s_max^(1/rho)))^rho, rho = 7 by default;
* ``discrete``: Lin et al. (2024), Table 2, integer steps k, t = (k + 1)/N.
"""

import jax.numpy as jnp
import numpy as np
import pytest

from diffax.processes import VE, DiscreteDDPM, VPCosine, VPLinear
from diffax.samplers import schedules

T0, T1 = 0.83, 0.05  # a sub-interval of every continuous process used here
CONTINUOUS = ["uniform_time", "uniform_log_snr", "quadratic_time", "karras"]


def _lam(p, t):
    return np.asarray(p.log_snr(jnp.asarray(t, jnp.float64)))


def _t_of_lam(p, lam):
    return np.array(p.t_from_log_snr(jnp.asarray(lam, jnp.float64)))


def _by_hand(name, p, n, t0, t1, rho=7.0):
    i = np.arange(n + 1) / n
    if name == "uniform_time":
        return t0 + i * (t1 - t0)
    if name == "quadratic_time":
        return (np.sqrt(t0) + i * (np.sqrt(t1) - np.sqrt(t0))) ** 2
    if name == "uniform_log_snr":
        l0, l1 = _lam(p, t0), _lam(p, t1)
        ts = _t_of_lam(p, l0 + i * (l1 - l0))
    else:
        s_max, s_min = np.exp(-0.5 * _lam(p, t0)), np.exp(-0.5 * _lam(p, t1))
        s = (s_max ** (1 / rho) + i * (s_min ** (1 / rho) - s_max ** (1 / rho))) ** rho
        ts = _t_of_lam(p, -2.0 * np.log(s))
    ts[0], ts[-1] = t0, t1
    return ts


@pytest.mark.parametrize("name", CONTINUOUS)
@pytest.mark.parametrize("process", [VPLinear(), VPCosine(), VE()], ids=lambda p: p.name)
def test_each_schedule_by_hand_on_a_sub_interval(x64, name, process):
    ts = np.asarray(schedules.get_schedule(name, process, 6, t_start=T0, t_end=T1))
    want = _by_hand(name, process, 6, T0, T1)
    assert ts.shape == (7,)
    np.testing.assert_allclose(ts, want, rtol=1e-12, atol=0)
    if name != "quadratic_time":  # (sqrt(t))^2 may differ from t by an ulp
        assert (ts[0], ts[-1]) == (T0, T1)  # the ends exactly, not t(lambda(t)) rounded


@pytest.mark.parametrize("name", CONTINUOUS)
def test_default_interval_is_the_process_interval(x64, name):
    p = VPLinear()
    ts = np.asarray(schedules.get_schedule(name, p, 5))
    np.testing.assert_allclose(ts, _by_hand(name, p, 5, p.t_max, p.t_min), rtol=1e-12, atol=0)


def test_karras_default_rho_is_7_and_rho_is_used(x64):
    p = VPLinear()
    default = np.asarray(schedules.karras(p, 7, t_start=T0, t_end=T1))
    np.testing.assert_allclose(default, _by_hand("karras", p, 7, T0, T1, rho=7.0),
                               rtol=1e-12, atol=0)
    for rho in (0.5, 3.0):  # rho in (0, 1] is allowed
        got = np.asarray(schedules.get_schedule("karras", p, 7, t_start=T0, t_end=T1, rho=rho))
        np.testing.assert_allclose(got, _by_hand("karras", p, 7, T0, T1, rho=rho),
                                   rtol=1e-12, atol=0)
    assert np.max(np.abs(np.asarray(schedules.karras(p, 7, rho=8.0)) -
                         np.asarray(schedules.karras(p, 7)))) > 1e-3


@pytest.mark.parametrize("name", CONTINUOUS)
def test_messages_in_full(name):
    p = VPLinear()
    fn = schedules.SCHEDULES.get(name)
    with pytest.raises(ValueError) as e:
        fn(p, 0)
    assert str(e.value) == f"{name}: n must be an integer >= 1, got n=0."
    with pytest.raises(ValueError) as e:
        fn(p, 4, t_start=1.5)
    assert str(e.value) == ("t_start=1.5 is outside this process's time interval "
                            "[t_min=0.001, t_max=1.0] (VPLinear).")
    with pytest.raises(ValueError) as e:
        fn(p, 4, t_end=0.0)
    assert str(e.value) == ("t_end=0.0 is outside this process's time interval "
                            "[t_min=0.001, t_max=1.0] (VPLinear).")
    for t_end in (0.5, 0.6):  # equal ends are refused too
        with pytest.raises(ValueError) as e:
            fn(p, 4, t_start=0.5, t_end=t_end)
        assert str(e.value) == (f"{name}: need t_start > t_end, got t_start=0.5, "
                                f"t_end={t_end}.")


def test_karras_rho_message():
    for rho in (0.0, -1.0):
        with pytest.raises(ValueError) as e:
            schedules.karras(VPLinear(), 4, rho=rho)
        assert str(e.value) == f"karras: rho must be > 0, got rho={rho}."


def _steps_by_hand(n_train, n, spacing, offset=1):
    """Lin et al. (2024), Table 2, 0-based, then the clip to [1, N - 1] and a final 0."""
    if spacing == "linspace":
        return np.round(np.linspace(n_train - 1, 0, n + 1)).astype(int)
    if spacing == "trailing":
        k = np.round(np.arange(n_train, 0, -n_train / n)).astype(int) - 1
    else:
        k = np.arange(n - 1, -1, -1) * (n_train // n) + offset
    return np.concatenate([np.clip(k, 1, n_train - 1), [0]])


@pytest.mark.parametrize("n_train,n,spacing,offset,expect", [
    (10, 3, "trailing", 1, [9, 6, 2, 0]),       # round(10 - 10 i/3) - 1
    (10, 3, "leading", 1, [7, 4, 1, 0]),         # ratio 10 // 3 = 3, offset 1
    (10, 3, "leading", 0, [6, 3, 1, 0]),         # k = 0 clipped up to 1
    (10, 3, "leading", 5, [9, 8, 5, 0]),         # 2 x 3 + 5 = 11 clipped down to 9
    (10, 9, "trailing", 1, [9, 8, 7, 6, 5, 3, 2, 1, 1, 0]),  # round(10/9) - 1 = 0 -> 1
    (10, 9, "linspace", 1, [9, 8, 7, 6, 5, 4, 3, 2, 1, 0]),
    (12, 5, "linspace", 1, [11, 9, 7, 4, 2, 0]),
    (10, 1, "leading", 1, [1, 0]),
])
def test_discrete_steps_by_hand(n_train, n, spacing, offset, expect):
    k = schedules.discrete_steps(n_train, n, spacing, steps_offset=offset)
    np.testing.assert_array_equal(k, expect)
    np.testing.assert_array_equal(k, _steps_by_hand(n_train, n, spacing, offset))
    assert k.dtype == np.int64
    if offset == 1:  # the default offset is 1
        np.testing.assert_array_equal(schedules.discrete_steps(n_train, n, spacing), expect)


def test_discrete_times_default_spacing_and_offset(x64):
    p = DiscreteDDPM.linear(n_steps=10)
    np.testing.assert_allclose(np.asarray(schedules.discrete(p, 3)),
                               (np.array([9, 6, 2, 0]) + 1) / 10, rtol=0, atol=0)
    np.testing.assert_allclose(np.asarray(schedules.discrete(p, 3, "leading")),
                               (np.array([7, 4, 1, 0]) + 1) / 10, rtol=0, atol=0)
    np.testing.assert_allclose(
        np.asarray(schedules.get_schedule("discrete", p, 3, spacing="leading", steps_offset=0)),
        (np.array([6, 3, 1, 0]) + 1) / 10, rtol=0, atol=0)


def test_discrete_messages_in_full():
    with pytest.raises(ValueError) as e:
        schedules.discrete_steps(10, 3, "middle")
    assert str(e.value) == ("unknown discrete spacing 'middle'; valid choices: "
                            "['leading', 'trailing', 'linspace'].")
    for n in (0, 10):
        with pytest.raises(ValueError) as e:
            schedules.discrete_steps(10, n, "trailing")
        assert str(e.value) == (f"discrete schedule: need 1 <= n < 10 (training steps), "
                                f"got n={n}.")
    with pytest.raises(ValueError) as e:
        schedules.discrete(VPLinear(), 3)
    assert str(e.value) == ("discrete spacings need a DiscreteDDPM process, got VPLinear; use "
                            "uniform_time/uniform_log_snr/karras for continuous processes.")
    with pytest.raises(ValueError) as e:
        schedules.discrete(DiscreteDDPM.linear(n_steps=10), 9)
    assert str(e.value) == ("discrete 'trailing' spacing with n=9 repeats a step; use fewer "
                            "steps.")
