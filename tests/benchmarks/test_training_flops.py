"""XLA's cost analysis, the FLOP count behind the training MFU, against analytic counts.

The counts are exact integers for these shapes, so the checks are equalities: a matmul is
``2 m k n``; a convolution is two FLOPs per multiply-add that touches real input (taps that
fall on SAME padding are not counted); a scan's body is counted once, not once per
iteration (why ``compiled_flops`` reports the loops it finds).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks import matmul_peak, training


def _compiled(fn, *args):
    return jax.jit(fn).lower(*args).compile()


def _conv(padding):
    def f(x, w):
        return jax.lax.conv_general_dilated(x, w, (1, 1), padding,
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return f


def test_matmul_flops_are_two_m_k_n():
    m, k, n = 48, 80, 24
    flops, loops = training.compiled_flops(_compiled(jnp.dot, jnp.ones((m, k)),
                                                     jnp.ones((k, n))))
    assert flops == 2 * m * k * n
    assert loops == 0
    assert matmul_peak.matmul_flops(64) == 2 * 64 ** 3


def test_conv_valid_padding_is_two_macs_per_output_tap():
    b, h, w, cin, cout, kh, kw = 2, 9, 7, 3, 5, 3, 3
    x, k = jnp.ones((b, h, w, cin)), jnp.ones((kh, kw, cin, cout))
    flops, _ = training.compiled_flops(_compiled(_conv("VALID"), x, k))
    assert flops == 2 * b * (h - kh + 1) * (w - kw + 1) * cout * kh * kw * cin


def test_conv_same_padding_counts_only_taps_on_the_image():
    b, h, w, cin, cout = 2, 9, 7, 3, 5
    x, k = jnp.ones((b, h, w, cin)), jnp.ones((3, 3, cin, cout))
    flops, _ = training.compiled_flops(_compiled(_conv("SAME"), x, k))
    # Per axis of length L, a 3-tap SAME filter touches 3 L - 2 image samples in all.
    assert flops == 2 * b * cout * cin * (3 * h - 2) * (3 * w - 2)
    # ...so the padded-shape formula overcounts by exactly the padding taps.
    assert flops < 2 * b * h * w * cout * 9 * cin


def test_scan_body_is_counted_once_and_the_loop_is_reported():
    a, b = jnp.ones((16, 32)), jnp.ones((32, 32))

    def scanned(length):
        def f(a, b):
            return jax.lax.scan(lambda c, _: (c @ b, None), a, None, length=length)[0]
        return training.compiled_flops(_compiled(f, a, b))

    flops, loops = scanned(5)
    assert flops == scanned(9)[0]  # the trip count does not enter the count
    body = 2 * 16 * 32 * 32
    assert body <= flops <= body + 4  # one body plus the loop counter's add and compare
    assert loops >= 1


def test_integer_only_rng_loops_are_not_reported():
    compiled = _compiled(lambda k: jax.random.normal(k, (4, 8)), jax.random.PRNGKey(0))
    assert " while(" in compiled.as_text()  # XLA:CPU keeps threefry's rounds rolled
    assert training.compiled_flops(compiled)[1] == 0


def test_vendor_peak_lookup_and_unknown_device():
    assert training.vendor_peak("NVIDIA H100 80GB HBM3", "bfloat16")[0] == 989e12
    assert training.vendor_peak("NVIDIA H200", "float32")[0] == 494.5e12
    assert training.vendor_peak("some accelerator", "bfloat16") is None
    with pytest.raises(ValueError, match="float16"):
        training.vendor_peak("NVIDIA H100 80GB HBM3", "float16")


def test_mfu_table_row():
    rec = {"config": "configs/image/x.py", "network": "unet", "batch": 64,
           "compute_dtype": "float32", "flops_per_step": 2.0e10, "step_s": 0.5,
           "achieved_gflops": 40.0, "peak_gflops": 100.0, "peak_name": "measured",
           "mfu": 0.4, "mfu_best_round": 0.5, "examples_per_sec": 128.0, "loops_in_step": 0}
    table = training.training_table({"jax": "x", "meta": {}, "records": [rec]})
    row = table.splitlines()[-1]
    assert "| unet | 64 | float32 | 20.0 | 500 | 40.0 | 100.0 | 40.0% | 50.0% | 128 |" == row
    assert np.isclose(training.mfu(2.0e10, 0.5, 100e9), 0.4)


def test_cpu_peak_is_the_best_rate_of_the_run():
    def rec(step_rounds, peak_rounds):
        return {"compute_dtype": "float32", "flops_per_step": 1e10,
                "step_s": float(np.median(step_rounds)), "step_s_rounds": step_rounds,
                "peak_rounds_gflops": peak_rounds}
    records = [rec([0.2, 0.25, 0.3], [40.0, 90.0, 60.0]), rec([1.0, 1.0, 0.5], [80.0])]
    training.cpu_peak(records, {"float32": {"peak_gflops": 70.0, "per_size": {512: 70.0}}})
    assert [r["peak_gflops"] for r in records] == [90.0, 90.0]
    assert np.isclose(records[0]["mfu"], 1e10 / 0.25 / 90e9)
    assert np.isclose(records[1]["mfu_best_round"], 1e10 / 0.5 / 90e9)
