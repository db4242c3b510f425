"""Controlled paths through irregular observations and the missing-data protocols."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.neural_sde import (controlled_path, drop_observations, evaluate, fill_missing,
                               forecast_mask, linear_path, natural_cubic_path, unit_times)


def test_fill_missing_interpolates_between_observations():
    t = jnp.array([0.0, 1.0, 3.0, 4.0, 6.0])
    v = jnp.array([[9.0, 1.0], [2.0, 9.0], [9.0, 9.0], [6.0, 9.0], [9.0, 9.0]])
    m = jnp.array([[0, 1], [1, 0], [0, 0], [1, 0], [0, 0]], jnp.float32)
    out = np.asarray(fill_missing(v, m, t))
    # channel 0: observed 2 at t=1 and 6 at t=4 -> constant before/after, linear between.
    np.testing.assert_allclose(out[:, 0], [2.0, 2.0, 2.0 + 4.0 * 2 / 3, 6.0, 6.0], rtol=1e-6)
    np.testing.assert_allclose(out[:, 1], 1.0)      # one observation: constant
    none = fill_missing(v, jnp.zeros_like(m), t)
    np.testing.assert_array_equal(none, 0.0)        # no observation: the normalised mean


def test_natural_cubic_spline_interpolates_and_is_natural():
    knots = jnp.array([0.0, 0.3, 0.5, 0.9, 1.0])
    values = jnp.stack([jnp.sin(4 * knots), knots**2], axis=-1)
    path = natural_cubic_path(knots, values)
    for i, k in enumerate(knots):
        np.testing.assert_allclose(evaluate(path, k), values[i], atol=1e-6)
    # C2 inside, second derivative 0 at both ends
    np.testing.assert_allclose(path.c[0], 0.0, atol=1e-6)
    end_second = 2 * path.c[-1] + 6 * path.d[-1] * (knots[-1] - knots[-2])
    np.testing.assert_allclose(end_second, 0.0, atol=1e-5)
    h = np.diff(knots)[:-1, None]
    np.testing.assert_allclose(2 * path.c[:-1] + 6 * path.d[:-1] * h, 2 * path.c[1:], atol=1e-4)
    np.testing.assert_allclose(path.b[:-1] + 2 * path.c[:-1] * h + 3 * path.d[:-1] * h**2,
                               path.b[1:], atol=1e-5)
    # constant outside the knots
    np.testing.assert_allclose(evaluate(path, -1.0), values[0], atol=1e-6)
    np.testing.assert_allclose(evaluate(path, 2.0), values[-1], atol=1e-6)
    # a line is reproduced exactly, by both interpolations
    line = jnp.stack([2 * knots - 1], axis=-1)
    for build in (natural_cubic_path, linear_path):
        np.testing.assert_allclose(evaluate(build(knots, line), 0.77), [0.54], atol=1e-6)


def test_spline_is_differentiable():
    knots = jnp.linspace(0, 1, 6)
    g = jax.grad(lambda v: evaluate(natural_cubic_path(knots, v), 0.43).sum())(
        jnp.cos(3 * knots)[:, None])
    assert np.isfinite(g).all() and abs(float(g.sum()) - 1.0) < 1e-5   # partition of unity


def test_controlled_path_channels_and_irregular_times():
    b, length, k = 2, 7, 3
    x = jax.random.normal(jax.random.key(0), (b, length, k))
    mask = jnp.ones_like(x).at[:, 2].set(0.0)
    time = jnp.array([[0, 1, 2, 4, 5, 8, 10], [0, 2, 3, 5, 6, 7, 14]], jnp.float32)
    path = controlled_path(x, mask, time)
    assert path.knots.shape == (b, length) and path.channels == 1 + 2 * k
    tau = unit_times(time)
    np.testing.assert_allclose(path.knots, tau)
    at = np.asarray(jax.vmap(lambda p, s: jax.vmap(lambda u: evaluate(p, u))(s))(path, tau))
    np.testing.assert_allclose(at[..., 0], tau, atol=1e-6)                       # time
    counts = np.cumsum(np.asarray(mask), axis=1) / length
    np.testing.assert_allclose(at[..., 1:1 + k], counts, atol=1e-6)              # intensity
    obs = np.asarray(mask) > 0
    np.testing.assert_allclose(at[..., 1 + k:][obs], np.asarray(x)[obs], atol=1e-5)
    no_int = controlled_path(x, mask, time[0], interpolation="linear", intensity=False)
    assert no_int.channels == 1 + k


def test_missing_points_of_a_line_do_not_change_the_path():
    """Robustness to missing data where it is computable: dropping interior points of a
    series that is linear in time leaves the (cubic or linear) path unchanged."""
    length = 12
    t = jnp.arange(length, dtype=jnp.float32)
    x = jnp.stack([0.5 * t - 1.0, -0.2 * t], axis=-1)[None]
    full = jnp.ones_like(x)
    holes = full.at[0, 1:-1].multiply(drop_observations(full, 0.5, jax.random.key(1))[0, 1:-1])
    assert float(holes.sum()) < float(full.sum())
    for interp in ("cubic", "linear"):
        p = controlled_path(x, full, t, interpolation=interp, intensity=False)
        q = controlled_path(x, holes, t, interpolation=interp, intensity=False)
        for s in (0.05, 0.31, 0.5, 0.93):
            np.testing.assert_allclose(evaluate(p, s), evaluate(q, s), atol=1e-5)


def test_drop_observations_counts():
    mask = jnp.ones((5, 20, 3))
    for rate, per_channel in ((0.3, True), (0.5, False), (0.7, True), (0.0, True)):
        out = np.asarray(drop_observations(mask, rate, jax.random.key(2), per_channel=per_channel))
        np.testing.assert_array_equal(out.sum(axis=1), 20 - int(rate * 20))
        if not per_channel:
            assert (out == out[..., :1]).all()
    assert not (np.asarray(drop_observations(mask, 0.5, jax.random.key(3)))
                == np.asarray(drop_observations(mask, 0.5, jax.random.key(4)))).all()
    already = mask.at[:, 0].set(0.0)
    assert (np.asarray(drop_observations(already, 0.5, jax.random.key(2)))[:, 0] == 0).all()
    f = np.asarray(forecast_mask(mask, 6))
    assert f[:, :14].all() and not f[:, 14:].any()


def test_errors_name_bad_values():
    x = jnp.zeros((2, 5, 1))
    with pytest.raises(ValueError, match="interpolation 'spline'"):
        controlled_path(x, x, jnp.arange(5.0), interpolation="spline")
    with pytest.raises(ValueError, match=r"mask must have shape \(2, 5, 1\)"):
        controlled_path(x, jnp.zeros((2, 5, 2)), jnp.arange(5.0))
    with pytest.raises(ValueError, match=r"time must have shape \(5,\)"):
        controlled_path(x, x, jnp.arange(4.0))
    with pytest.raises(ValueError, match="at least 2 time steps"):
        controlled_path(x[:, :1], x[:, :1], jnp.arange(1.0))
    with pytest.raises(ValueError, match="rate=1.0"):
        drop_observations(x, 1.0, jax.random.key(0))
    with pytest.raises(ValueError, match="horizon=5"):
        forecast_mask(x, 5)
