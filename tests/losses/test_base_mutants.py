"""Value tests that pin diffax/losses/base.py (written from its mutation run,
docs/testing.md "Measured (2026-12): diffax/losses").

The regression helpers against NumPy on (B, 2, 4) arrays: per-example MSE, the masked MSE
and its counts (an example with no marked element, a broadcast mask, a boolean mask), the
batch-level masked loss of CSDI (Tashiro et al., 2021),

    loss = sum_b w_b sum_i m_bi (pred_bi - target_bi)^2 / max(sum_b sum_i m_bi, 1),

the dtypes (float32 data under x64, float16 promoted to float32), the option and batch
splitting, and every message in full.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.losses import base
from diffax.processes import PFGMPP, VPLinear

B = 3


def arrays(dtype=jnp.float64):
    k1, k2 = jax.random.split(jax.random.key(0))
    return (jax.random.normal(k1, (B, 2, 4), dtype), jax.random.normal(k2, (B, 2, 4), dtype))


def test_per_example_and_masked_mse(x64):
    pred, target = arrays()
    p, q = np.asarray(pred), np.asarray(target)
    np.testing.assert_allclose(base.per_example_mse(pred, target),
                               np.mean((p - q) ** 2, axis=(1, 2)), rtol=1e-14)
    # Example 0: 3 marked elements; example 1: one (a count below 2); example 2: none.
    m = np.zeros((B, 2, 4))
    m[0, 0, :3] = 1.0
    m[1, 1, 2] = 1.0
    mse, count = base.masked_mse(pred, target, jnp.asarray(m))
    np.testing.assert_array_equal(count, [3.0, 1.0, 0.0])
    want = np.sum(m * (p - q) ** 2, axis=(1, 2)) / np.maximum(m.sum(axis=(1, 2)), 1.0)
    np.testing.assert_allclose(mse, want, rtol=1e-14)
    assert float(mse[2]) == 0.0
    # A boolean mask broadcast over the middle axis: (B, 1, 4).
    mb = np.zeros((B, 1, 4), bool)
    mb[:, 0, 1] = True
    mb[2, 0, 3] = True
    mse, count = base.masked_mse(pred, target, jnp.asarray(mb))
    full = np.broadcast_to(mb, (B, 2, 4)).astype(float)
    np.testing.assert_array_equal(count, [2.0, 2.0, 4.0])
    assert count.dtype == jnp.float64
    np.testing.assert_allclose(mse, np.sum(full * (p - q) ** 2, axis=(1, 2)) / full.sum((1, 2)),
                               rtol=1e-14)


def test_weighted_regression_masked_and_unmasked(x64):
    pred0, target = arrays()
    x_t = pred0 * 0.5
    t = jnp.asarray([0.2, 0.5, 0.9])
    weight = jnp.asarray([1.0, 2.0, 3.0])
    seen = {}

    def model_fn(x, tt, label):
        seen.update(keys=("label",), t=np.asarray(tt))
        return 2.0 * x + label[:, None, None]

    label = jnp.asarray([0.0, 1.0, -1.0])
    p = 2.0 * np.asarray(x_t) + np.asarray(label)[:, None, None]
    q = np.asarray(target)
    w = np.asarray(weight)
    loss, aux = base.weighted_regression(model_fn, x_t, t, {"label": label}, target, weight,
                                         "w", extra_aux={"extra": jnp.asarray(7.0)})
    mse = np.mean((p - q) ** 2, axis=(1, 2))
    np.testing.assert_allclose(aux["mse"], mse, rtol=1e-14)
    np.testing.assert_allclose(aux["loss_per_example"], w * mse, rtol=1e-14)
    np.testing.assert_allclose(loss, np.mean(w * mse), rtol=1e-14)
    np.testing.assert_array_equal(seen["t"], np.asarray(t))
    assert float(aux["extra"]) == 7.0 and float(aux["loss"]) == float(loss)
    np.testing.assert_array_equal(aux["t"], t)
    np.testing.assert_array_equal(aux["weight"], w)
    # With a mask: it never reaches the model, and every marked element weighs the same.
    m = np.zeros((B, 2, 4))
    m[0, 0, :3] = 1.0
    m[1, 1, 2] = 1.0
    cond = {"label": label, "loss_mask": jnp.asarray(m)}
    loss, aux = base.weighted_regression(model_fn, x_t, t, cond, target, weight, "w")
    assert "loss_mask" in cond  # the caller's dict is not changed
    per = np.sum(m * (p - q) ** 2, axis=(1, 2))
    np.testing.assert_allclose(loss, np.sum(w * per) / m.sum(), rtol=1e-14)
    np.testing.assert_allclose(aux["mse"], per / np.maximum(m.sum((1, 2)), 1.0), rtol=1e-14)
    np.testing.assert_allclose(aux["loss_per_example"], w * per / np.maximum(m.sum((1, 2)), 1),
                               rtol=1e-14)
    # One marked element in the whole batch: its weighted squared error (divided by 1).
    m1 = np.zeros((B, 2, 4))
    m1[2, 1, 3] = 1.0
    loss, _ = base.weighted_regression(model_fn, x_t, t, {"label": label,
                                                          "loss_mask": jnp.asarray(m1)},
                                       target, weight, "w")
    np.testing.assert_allclose(loss, w[2] * (p - q)[2, 1, 3] ** 2, rtol=1e-14)
    # No marked element at all: loss 0 (not 0/0).
    loss, _ = base.weighted_regression(model_fn, x_t, t, {"label": label,
                                                          "loss_mask": jnp.zeros((B, 2, 4))},
                                       target, weight, "w")
    assert float(loss) == 0.0


def test_weighted_regression_dtypes(x64):
    """float32 x_t under x64: a float64 prediction, target and weight are cast to float32."""
    pred, target = arrays(jnp.float32)
    x_t = pred
    model = lambda x, t: x.astype(jnp.float64) + 1.0  # noqa: E731
    loss, aux = base.weighted_regression(model, x_t, jnp.zeros(B, jnp.float32), {},
                                         target.astype(jnp.float64), jnp.ones(B, jnp.float64),
                                         "w")
    assert loss.dtype == jnp.float32
    for name in ("weight", "mse", "loss_per_example"):
        assert aux[name].dtype == jnp.float32, name
    loss, aux = base.weighted_regression(model, x_t, jnp.zeros(B, jnp.float32),
                                         {"loss_mask": jnp.ones((B, 2, 4))},
                                         target.astype(jnp.float64), jnp.ones(B, jnp.float64),
                                         "w")
    assert loss.dtype == jnp.float32 and aux["mse"].dtype == jnp.float32
    np.testing.assert_allclose(aux["mse"], np.mean((np.asarray(pred, np.float64) + 1.0
                                                    - np.asarray(target, np.float64)) ** 2,
                                                   axis=(1, 2)), rtol=1e-5)


def test_compute_dtype(x64):
    for dtype, want in ((jnp.float16, jnp.float32), (jnp.bfloat16, jnp.float32),
                        (jnp.float32, jnp.float32), (jnp.float64, jnp.float64)):
        assert base.compute_dtype(jnp.zeros(2, dtype)) == want, dtype


def test_split_options_and_batch():
    groups = {"g1": {"a": 0, "c": 5}, "g2": {"b": 1}}
    assert base.split_options("w", {"a": 2, "b": 3}, groups) == [{"a": 2, "c": 5}, {"b": 3}]
    assert base.split_options("w", {}, groups) == [{"a": 0, "c": 5}, {"b": 1}]
    x = jnp.ones((1,))  # B = 1, one axis: the smallest valid batch
    x0, cond = base.split_batch({"x": x, "label": 3, "loss_mask": 1}, "w")
    np.testing.assert_array_equal(x0, x)
    assert cond == {"label": 3, "loss_mask": 1}
    x0, cond = base.split_batch({"x": np.ones((2, 3), np.float32)}, "w")
    assert isinstance(x0, jax.Array) and cond == {}
    process = VPLinear()
    assert base.check_process(process, "w") is process
    out = base.check_prediction(np.ones((2, 3)), jnp.zeros((2, 3)), "w")
    assert isinstance(out, jax.Array)


GAUSSIAN = ("w: process must be a diffax GaussianProcess (family 'gaussian': VPLinear, "
            "VPCosine, DiscreteDDPM, SubVP, VE, EDM, RectifiedFlow, ...), got ")


@pytest.mark.parametrize("build, message", [
    (lambda: base.split_options("w", {"c": 1, "a": 2}, {"g1": {"a": 0}, "g2": {"b": 1}}),
     "w: unknown option(s) ['c'] for g1, g2; valid options: ['a', 'b']."),
    (lambda: base.split_batch([1], "w"), "w: batch must be a dict with an 'x' entry, got list."),
    (lambda: base.split_batch({"y": 1, "a": 2}, "w"),
     "w: batch has no 'x' entry (data of shape (B, ...)); got keys ['a', 'y']."),
    (lambda: base.split_batch({"x": jnp.asarray(1.0)}, "w"),
     "w: batch['x'] must have shape (B, ...) with B >= 1, got shape ()."),
    (lambda: base.split_batch({"x": jnp.zeros((0, 3))}, "w"),
     "w: batch['x'] must have shape (B, ...) with B >= 1, got shape (0, 3)."),
    (lambda: base.split_batch({"x": jnp.zeros((2, 3), jnp.int32)}, "w"),
     "w: batch['x'] must be floating point, got dtype int32."),
    (lambda: base.check_prediction(jnp.zeros((2,)), jnp.zeros((2, 1)), "w"),
     "w: model_fn(x_t, t, **cond) returned shape (2,), expected the shape of x_t (2, 1)."),
    (lambda: base.weighted_regression(lambda x, t: x[:, :1], jnp.zeros((2, 3)), jnp.zeros(2),
                                      {}, jnp.zeros((2, 3)), jnp.ones(2), "w"),
     "w: model_fn(x_t, t, **cond) returned shape (2, 1), expected the shape of x_t (2, 3)."),
    (lambda: base.weighted_regression(lambda x, t: x, jnp.zeros((2, 3)), jnp.zeros(2),
                                      {"loss_mask": jnp.zeros((3, 3))}, jnp.zeros((2, 3)),
                                      jnp.ones(2), "w"),
     "w: batch['loss_mask'] of shape (3, 3) does not broadcast to x of shape (2, 3)."),
    (lambda: base.check_process(object(), "w"), GAUSSIAN + "object."),
    (lambda: base.check_process(PFGMPP(D=8.0, data_dim=2), "w"),
     GAUSSIAN + "PFGMPP of family 'pfgmpp'."),
])
def test_base_messages_in_full(build, message):
    with pytest.raises(ValueError) as info:
        build()
    assert str(info.value) == message
