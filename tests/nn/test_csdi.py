"""CSDI-specific tests: series_inputs, feature equivariance, padding, parameter count and
errors. The tests shared with UNet1D (zero init, conditioning exactness, time positions,
defaults, dropout, the fit test, label on an unconditional net) are in test_series_nets.py.

All jitted calls use one shape (B, L, K) = (4, 8, 3) and a few call patterns, so the file
compiles only a handful of programs.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from diffax.nn import CSDI, count_params, get_network
from diffax.nn.series import series_inputs
from nn_helpers import rel_diff
from series_helpers import (B, CSDI_COND, CSDI_SMALL, L, K, LAB, REAL, T, TIME, fixed_batch,
                            randomized_net_fixture, series_apply, series_batch, series_call,
                            series_maker)

SMALL, COND = CSDI_SMALL, CSDI_COND
X, M, V = fixed_batch(0, (0, 2, 1))  # (0, 2, 1) is an entry to generate
call = series_call(X, M, V)
make = series_maker(CSDI, COND)
net = randomized_net_fixture(make)  # the conditional CSDI, zero-initialised layers randomised


def test_series_inputs():
    x = X.at[1, 3, 0].set(jnp.nan)
    pad = REAL.at[1, 3].set(False)
    inp = series_inputs("CSDI", x, K, M, V + 5.0 * (1 - M), jnp.arange(L) * 0.5, pad)
    real = np.asarray(pad)[..., None]
    np.testing.assert_array_equal(inp.target, np.where(real, x * (1 - M), 0.0))
    # cond_values off the mask are dropped
    np.testing.assert_array_equal(inp.observed, np.where(real, V, 0.0))
    np.testing.assert_array_equal(inp.mask, np.where(real, M, 0.0))
    np.testing.assert_array_equal(inp.time, np.where(pad, np.arange(L) * 0.5, 0.0))
    assert inp.time.shape == (B, L)
    plain = series_inputs("CSDI", X, K, None, None, None, None)
    np.testing.assert_array_equal(plain.target, X)
    np.testing.assert_array_equal(plain.observed, 0.0)
    np.testing.assert_array_equal(plain.time, TIME)
    assert plain.pad is None


def test_feature_permutation_equivariance(net):
    """Permuting the K features of x, cond_mask and cond_values and the rows of the feature
    embedding permutes the output: the feature transformer and all per-token maps are
    shared across features, only the embedding tells them apart."""
    perm = np.array([2, 0, 1])
    base = call(series_apply(net))
    permuted = nnx.clone(net)
    permuted.feature_embed.embedding[...] = net.feature_embed.embedding[...][perm]
    out = call(series_apply(permuted), X[..., perm], cond_mask=M[..., perm],
               cond_values=V[..., perm])
    np.testing.assert_allclose(out, base[..., perm], rtol=1e-5, atol=1e-6)
    # without the permuted embedding the features are told apart
    plain = call(series_apply(net), X[..., perm], cond_mask=M[..., perm], cond_values=V[..., perm])
    assert rel_diff(plain, base[..., perm]) > 1e-3


def test_padded_steps_do_not_influence_real_steps(net):
    """Each window holds 5 real steps (irregular times) at other places among 8: its outputs
    at the real steps equal those of the 5-step window without padding (this needs the key
    mask of the temporal attention), whatever the padded steps hold, NaN included."""
    f = series_apply(net)
    real = np.array([[0, 1, 2, 3, 4], [0, 2, 3, 5, 7], [3, 4, 5, 6, 7], [1, 2, 4, 5, 6]])
    rows = np.arange(B)[:, None]
    pad = np.zeros((B, L), bool)
    pad[rows, real] = True
    x5, m5, v5 = series_batch(B, 5, K, seed=7)
    time5 = jnp.asarray(np.cumsum(np.random.default_rng(8).uniform(0.5, 2.0, (B, 5)), axis=1),
                        jnp.float32)
    short = call(f, x5, cond_mask=m5, cond_values=v5, time=time5, pad_mask=jnp.ones((B, 5), bool))

    def spread(a, fill):  # the 5 steps of each row placed at its real positions
        full = np.full((B, L) + a.shape[2:], fill, np.float32)
        full[rows, real] = a
        return jnp.asarray(full)

    hole = jnp.asarray(~pad[..., None])
    kw = dict(cond_mask=spread(m5, 0.0), cond_values=spread(v5, 0.0), time=spread(time5, 0.0))
    out = call(f, spread(x5, 0.0), pad_mask=jnp.asarray(pad), **kw)
    np.testing.assert_allclose(out[rows, real], short, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.where(hole, out, 0.0), 0.0)  # 0 at the padded steps
    # values at the padded steps, NaN included, change nothing
    garbage = dict(cond_mask=spread(m5, 1.0), cond_values=spread(v5, 1e6),
                   time=spread(time5, -50.0))
    np.testing.assert_array_equal(call(f, spread(x5, np.nan), pad_mask=jnp.asarray(pad),
                                       **garbage), out)
    # without the pad mask the (zero) padded steps reach the real ones
    assert rel_diff(call(f, spread(x5, 0.0), **kw)[rows, real], short) > 1e-3


def test_count_params_and_registry():
    net = get_network("csdi", **COND, rngs=nnx.Rngs(0))
    c, e, s = 16, 16, 16 + 4 + 1
    layer = 2 * c + (3 * c * c + 3 * c) + (c * c + c) + 2 * c + 2 * (c * c + c)
    block = (e * c + c) + 2 * layer + (c * 2 * c + 2 * c) + (s * 2 * c + 2 * c) + \
        (c * 2 * c + 2 * c)
    rest = 2 * (e * e + e) + 3 * 4 + (2 * c + c) + (c * c + c) + (c + 1)
    assert count_params(net) == rest + 4 * e + block  # one block, label table of 4 rows
    assert count_params(CSDI(**SMALL, rngs=nnx.Rngs(0))) == rest + 2 * block


@pytest.mark.parametrize("kw, match", [
    (dict(num_heads=3), r"num_heads=3 does not divide channels=16"),
    (dict(num_layers=0), r"CSDI: num_layers must be an integer >= 1, got num_layers=0"),
    (dict(feature_embed_dim=2.0), r"feature_embed_dim=2.0"),
    (dict(dropout=1.0), r"dropout must be .*got dropout=1.0"),
    (dict(num_classes=0), r"num_classes.*0"),
])
def test_bad_config(kw, match):
    with pytest.raises(ValueError, match=match):
        make(**kw)


@pytest.mark.parametrize("args, kw, match", [
    ((X[..., :2], T), {}, r"CSDI expects x of shape \(B, L, 3\).*got shape \(4, 8, 2\)"),
    ((X[0], T), {}, r"CSDI expects x of shape \(B, L, 3\).*got shape \(8, 3\)"),
    ((X.astype(jnp.int32), T), {}, r"x must be floating point, got dtype int32"),
    ((X, T), dict(cond_mask=M), r"cond_mask was given without cond_values"),
    ((X, T), dict(cond_values=V), r"cond_values was given without cond_mask"),
    ((X, T), dict(cond_mask=M[:, :4], cond_values=V),
     r"cond_mask must have shape \(4, 8, 3\), got shape \(4, 4, 3\)"),
    ((X, T), dict(cond_mask=M, cond_values=V[0]),
     r"cond_values must have shape \(4, 8, 3\), got shape \(8, 3\)"),
    ((X, T), dict(time=TIME[:, :5]),
     r"time must have shape \(4, 8\) or \(8,\), got shape \(4, 5\)"),
    ((X, T), dict(pad_mask=REAL[0]), r"pad_mask must have shape \(4, 8\), got shape \(8,\)"),
    ((X, T[:3]), {}, r"t must be a scalar or have shape \(4,\), got shape \(3,\)"),
    ((X, T, LAB[:2]), {}, r"label must have shape \(4,\), got \(2,\)"),
])
def test_bad_inputs(net, args, kw, match):
    with pytest.raises(ValueError, match=match):
        net(*args, **kw)
