"""CSDI: zero init, conditioning exactness, feature equivariance, padding, time positions,
labels, dropout, jit vs eager, gradients, a fit test, and errors.

All jitted calls use one shape (B, L, K) = (4, 8, 3) and a few call patterns, so the file
compiles only a handful of programs.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from diffax.nn import CSDI, count_params, get_network
from diffax.nn.series import series_inputs
from nn_helpers import randomize_zero_params, rel_diff
from series_helpers import overfit_losses, series_apply, series_batch

SMALL = dict(num_features=3, channels=16, num_layers=2, num_heads=4, time_embed_dim=16,
             feature_embed_dim=4, diffusion_embed_dim=16)
COND = dict(SMALL, num_layers=1, num_classes=3, dropout=0.2)  # one block: faster compiles
B, L, K = 4, 8, 3

X, M, V = series_batch(B, L, K)
M = M.at[0, 2, 1].set(0.0)  # (0, 2, 1) is an entry to generate
V = V * M
T = jnp.array([0.2, 0.5, 0.7, 0.9])
LAB = jnp.array([0, 1, 2, 0])
TIME = jnp.broadcast_to(jnp.arange(L, dtype=jnp.float32), (B, L))
REAL = jnp.ones((B, L), bool)


def make(seed=0, **kw):
    return CSDI(**{**COND, **kw}, rngs=nnx.Rngs(seed))


@pytest.fixture(scope="module")
def net():
    """The conditional CSDI with its zero-initialised layers randomised."""
    return randomize_zero_params(make())


def call(f, x=X, t=T, label=LAB, key=None, **kw):
    """The general call pattern: every keyword given (one compiled program per key/None)."""
    kw = {"cond_mask": M, "cond_values": V, "time": TIME, "pad_mask": REAL, **kw}
    return f(x, t, label, key, **kw)


def test_zero_output_at_init():
    net = make()
    out = call(series_apply(net))
    assert out.shape == (B, L, K) and out.dtype == X.dtype
    np.testing.assert_array_equal(out, 0.0)
    half = jax.eval_shape(lambda x: net(x, T, cond_mask=M, cond_values=V), X.astype(jnp.bfloat16))
    assert half.shape == (B, L, K) and half.dtype == jnp.bfloat16


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


def test_conditioned_entries_of_x_and_values_off_the_mask_are_ignored(net):
    f = series_apply(net)
    base = call(f)
    noise = jax.random.normal(jax.random.PRNGKey(5), X.shape)
    # x where cond_mask == 1, and cond_values where cond_mask == 0: exactly no effect.
    np.testing.assert_array_equal(call(f, X + 100.0 * noise * M), base)
    np.testing.assert_array_equal(call(f, cond_values=V + noise * (1 - M)), base)
    # x at one entry to generate: every output of that sample responds (the temporal
    # transformer carries it to other steps, the feature transformer to other features;
    # measured: changes >= 1e-5, rounding is about 1e-8).
    diff = np.abs(np.asarray(call(f, X.at[0, 2, 1].add(3.0)) - base))
    assert np.all(diff[0] > 1e-6), diff[0].min()
    np.testing.assert_array_equal(diff[1:], 0.0)  # other samples untouched
    # a given value is conditioning: it matters
    i = tuple(int(a[0]) for a in np.nonzero(np.asarray(M[2])))
    assert rel_diff(call(f, cond_values=V.at[(2, *i)].add(1.0))[2], base[2]) > 1e-4


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


def test_time_positions(net):
    f = series_apply(net)
    base = call(f)
    for time in (TIME * 3.0, TIME + 5.0):  # spacing and offset of the timestamps matter
        assert rel_diff(call(f, time=time), base) > 1e-3
    # one sample's timestamps affect that sample only
    out = np.asarray(call(f, time=TIME.at[0].multiply(2.0)))
    assert rel_diff(out[0], base[0]) > 1e-3
    np.testing.assert_array_equal(out[1:], base[1:])


def test_defaults_are_null_label_no_conditioning_and_integer_times(net):
    """``net(x, t)`` run eagerly equals the jitted call with the null label, zero cond_mask
    and cond_values, time = 0..L-1 and no padding (also the jit == eager check)."""
    f = series_apply(net)
    zeros = dict(cond_mask=jnp.zeros_like(X), cond_values=jnp.zeros_like(X))
    explicit = call(f, label=jnp.full((B,), 3), **zeros)
    np.testing.assert_allclose(net(X, T), explicit, rtol=1e-4, atol=1e-5)
    assert rel_diff(call(f, label=jnp.full((B,), 0), **zeros), explicit) > 1e-3
    assert rel_diff(call(f, t=T + 0.3), call(f)) > 1e-3  # the noise input matters


def test_dropout_is_a_function_of_the_key(net):
    f = series_apply(net)
    k1, k2 = jax.random.PRNGKey(1), jax.random.PRNGKey(2)
    a = call(f, key=k1)
    np.testing.assert_array_equal(a, call(f, key=k1))
    assert rel_diff(a, call(f, key=k2)) > 1e-3
    assert rel_diff(a, call(f)) > 1e-3


def test_overfits_a_fixed_batch_and_trains_every_parameter():
    """100 Adam steps of noise prediction on 4 fixed windows (two blocks), NaN at the padded
    steps: the losses stay finite, every parameter moves, and the loss falls. Measured: 1.24
    -> 7.8e-4 (ratio 6e-4; 4e-3 with init seed 1); the bound 0.05 leaves a margin > 10."""
    net = CSDI(**SMALL, rngs=nnx.Rngs(0))
    losses, final, old, new = overfit_losses(net, L, K)
    assert np.all(np.isfinite(losses))
    assert final < 0.05 * losses[0], (losses[0], final)
    moved = jax.tree.map(lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))), new, old)
    frozen = [jax.tree_util.keystr(p) for p, m in jax.tree_util.tree_leaves_with_path(moved)
              if not m]
    assert not frozen, frozen


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


def test_label_on_unconditional_net():
    with pytest.raises(ValueError, match=r"label given but the network was built with "
                                         r"num_classes=None"):
        CSDI(**SMALL, rngs=nnx.Rngs(0))(X, T, LAB)
