"""UNet1D-specific tests: padding values, parameter count and errors. The tests shared with
CSDI (zero init, conditioning exactness, time positions, defaults, dropout, the fit test,
label on an unconditional net) are in test_series_nets.py.

All jitted calls use one shape (B, L, K) = (4, 8, 3) and a few call patterns.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from diffax.nn import UNet1D, count_params, get_network
from series_helpers import (B, L, LAB, REAL, T, TIME, UNET1D_COND, fixed_batch,
                            randomized_net_fixture, series_apply, series_call, series_maker)

COND = UNET1D_COND
X, M, V = fixed_batch(1, (0, 3, 1))  # (0, 3, 1) is an entry to generate
call = series_call(X, M, V)
make = series_maker(UNet1D, COND)
net = randomized_net_fixture(make)  # the conditional UNet1D, zero-initialised layers randomised


def test_values_at_padded_steps_are_ignored_and_output_is_zero_there(net):
    """The guarantee of UNet1D (module docstring): the values at padded steps, NaN included,
    never matter, and the output there is 0."""
    f = series_apply(net)
    pad = np.ones((B, L), bool)
    pad[0, 5:] = pad[1, [0, 3]] = pad[3, 6:] = False
    pad = jnp.asarray(pad)
    hole = ~pad[..., None]
    out = call(f, pad_mask=pad)
    np.testing.assert_array_equal(np.where(hole, out, 0.0), 0.0)
    garbage = call(f, jnp.where(hole, jnp.nan, X), pad_mask=pad,
                   cond_mask=jnp.where(hole, 1.0, M), cond_values=jnp.where(hole, 1e6, V),
                   time=jnp.where(~pad, -50.0, TIME))
    np.testing.assert_array_equal(garbage, out)
    np.testing.assert_array_equal(out[2], call(f)[2])  # an unpadded row is unaffected


def test_count_params_and_registry():
    def conv(cin, cout, k=3):
        return k * cin * cout + cout

    def lin(cin, cout):
        return cin * cout + cout

    def res(cin, cout, e=32):
        return 2 * cin + conv(cin, cout) + lin(e, cout) + 2 * cout + conv(cout, cout) + \
            (conv(cin, cout, 1) if cin != cout else 0)

    expected = (lin(8, 32) + lin(32, 32) + 4 * 32 + conv(9, 8) + lin(8, 8)
                + res(8, 8) + conv(8, 8) + res(8, 16)                      # down
                + 2 * res(16, 16)                                          # middle
                + res(32, 16) + res(24, 16) + conv(16, 16) + res(24, 8) + res(16, 8)  # up
                + 2 * 8 + conv(8, 3))                                      # out
    assert count_params(get_network("unet1d", **COND, rngs=nnx.Rngs(0))) == expected


@pytest.mark.parametrize("kw, match", [
    (dict(channel_mults=()), r"channel_mults must be a non-empty .*got channel_mults=\(\)"),
    (dict(channel_mults=(1, 0)), r"got channel_mults=\(1, 0\)"),
    (dict(num_res_blocks=0), r"UNet1D: num_res_blocks must be an integer >= 1"),
    (dict(norm_groups=3), r"norm_groups=3 does not divide the 8 channels"),
    (dict(dropout=1.0), r"dropout must be .*got dropout=1.0"),
    (dict(time_scale=float("nan")), r"time_scale must be a finite number"),
])
def test_bad_config(kw, match):
    with pytest.raises(ValueError, match=match):
        make(**kw)


@pytest.mark.parametrize("args, kw, match", [
    ((X[..., :2], T), {}, r"UNet1D expects x of shape \(B, L, 3\).*got shape \(4, 8, 2\)"),
    ((X[:, :7], T), {}, r"window length L=7 must be divisible by 2\^\(len\(channel_mults\) "
                        r"- 1\) = 2; pad the window"),
    ((X, T), dict(cond_mask=M), r"UNet1D: cond_mask was given without cond_values"),
    ((X, T), dict(cond_mask=M, cond_values=V[:, :4]),
     r"UNet1D: cond_values must have shape \(4, 8, 3\), got shape \(4, 4, 3\)"),
    ((X, T), dict(time=TIME[0, :4]), r"time must have shape \(4, 8\) or \(8,\), got shape \(4,\)"),
    ((X, T), dict(pad_mask=REAL[:2]), r"pad_mask must have shape \(4, 8\), got shape \(2, 8\)"),
    ((X, T, LAB[:2]), {}, r"label must have shape \(4,\), got \(2,\)"),
])
def test_bad_inputs(net, args, kw, match):
    with pytest.raises(ValueError, match=match):
        net(*args, **kw)
