"""The tests shared by the time-series networks (CSDI, UNet1D), parametrised over the nets:
zero init, conditioning exactness, time positions, defaults (jit vs eager), dropout, a fit
test that trains every parameter, and a label on an unconditional net. The net-specific
tests stay in test_csdi.py and test_unet1d.py.

All jitted calls use one shape (B, L, K) = (4, 8, 3) and a few call patterns per net; the
module-scoped fixtures run all tests of one net before the other.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from diffax.nn import CSDI, UNet1D
from nn_helpers import randomize_zero_params, rel_diff
from series_helpers import (B, CSDI_COND, CSDI_SMALL, L, K, LAB, T, TIME, UNET1D_COND,
                            UNET1D_SMALL, fixed_batch, overfit_losses, series_apply,
                            series_call)


class Net(NamedTuple):
    cls: type
    small: dict  # the unconditional config of the fit test
    cond: dict  # the conditional config (labels, dropout) of the other tests
    seed: int  # seed of the fixed batch
    entry: tuple  # an entry to generate (cond_mask 0 there)
    fit_bound: float  # final / initial loss of the fit test must stay below this
    half_cond: bool  # the bfloat16 shape check passes cond_mask and cond_values


NETS = {
    # CSDI fit (two blocks): 1.24 -> 7.8e-4 (ratio 6e-4; 4e-3 with init seed 1); the bound
    # 0.05 leaves a margin > 10.
    "csdi": Net(CSDI, CSDI_SMALL, CSDI_COND, 0, (0, 2, 1), 0.05, True),
    # UNet1D fit: 1.24 -> 2.5e-5 (ratio 2e-5; 1.6e-5 and 1.3e-4 with init seeds 1, 2); the
    # bound 2e-3 leaves a margin > 10.
    "unet1d": Net(UNet1D, UNET1D_SMALL, UNET1D_COND, 1, (0, 3, 1), 2e-3, False),
}


class Case(NamedTuple):
    spec: Net
    X: jax.Array
    M: jax.Array
    V: jax.Array
    call: object  # series_call(X, M, V)

    def make(self, seed=0, **kw):
        return self.spec.cls(**{**self.spec.cond, **kw}, rngs=nnx.Rngs(seed))


@pytest.fixture(scope="module", params=list(NETS), ids=list(NETS))
def case(request):
    spec = NETS[request.param]
    X, M, V = fixed_batch(spec.seed, spec.entry)
    return Case(spec, X, M, V, series_call(X, M, V))


@pytest.fixture(scope="module")
def net(case):
    """The conditional net with its zero-initialised layers randomised."""
    return randomize_zero_params(case.make())


def test_zero_output_at_init(case):
    X, M, V = case.X, case.M, case.V
    net = case.make()
    out = case.call(series_apply(net))
    assert out.shape == (B, L, K) and out.dtype == X.dtype
    np.testing.assert_array_equal(out, 0.0)
    kw = dict(cond_mask=M, cond_values=V) if case.spec.half_cond else {}
    half = jax.eval_shape(lambda x: net(x, T, **kw), X.astype(jnp.bfloat16))
    assert half.shape == (B, L, K) and half.dtype == jnp.bfloat16


def test_conditioned_entries_of_x_and_values_off_the_mask_are_ignored(case, net):
    X, M, V, call = case.X, case.M, case.V, case.call
    f = series_apply(net)
    base = call(f)
    noise = jax.random.normal(jax.random.PRNGKey(5), X.shape)
    # x where cond_mask == 1, and cond_values where cond_mask == 0: exactly no effect.
    np.testing.assert_array_equal(call(f, X + 100.0 * noise * M), base)
    np.testing.assert_array_equal(call(f, cond_values=V + noise * (1 - M)), base)
    # x at one entry to generate: every output of that sample responds, and no other sample
    # (CSDI: the temporal transformer carries it to other steps, the feature transformer to
    # other features; measured: changes >= 1e-5, rounding is about 1e-8. UNet1D: the
    # receptive field of the two-level U-Net covers the 8 steps).
    diff = np.abs(np.asarray(call(f, X.at[case.spec.entry].add(3.0)) - base))
    assert np.all(diff[0] > 1e-6), diff[0].min()
    np.testing.assert_array_equal(diff[1:], 0.0)  # other samples untouched
    # a given value is conditioning: it matters
    i = tuple(int(a[0]) for a in np.nonzero(np.asarray(M[2])))
    assert rel_diff(call(f, cond_values=V.at[(2, *i)].add(1.0))[2], base[2]) > 1e-4


def test_time_positions(case, net):
    call = case.call
    f = series_apply(net)
    base = call(f)
    for time in (TIME * 3.0, TIME + 5.0):  # spacing and offset of the timestamps matter
        assert rel_diff(call(f, time=time), base) > 1e-3
    # one sample's timestamps affect that sample only
    out = np.asarray(call(f, time=TIME.at[0].multiply(2.0)))
    assert rel_diff(out[0], base[0]) > 1e-3
    np.testing.assert_array_equal(out[1:], base[1:])


def test_defaults_are_null_label_no_conditioning_and_integer_times(case, net):
    """``net(x, t)`` run eagerly equals the jitted call with the null label, zero cond_mask
    and cond_values, time = 0..L-1 and no padding (also the jit == eager check)."""
    X, call = case.X, case.call
    f = series_apply(net)
    zeros = dict(cond_mask=jnp.zeros_like(X), cond_values=jnp.zeros_like(X))
    explicit = call(f, label=jnp.full((B,), 3), **zeros)
    np.testing.assert_allclose(net(X, T), explicit, rtol=1e-4, atol=1e-5)
    assert rel_diff(call(f, label=jnp.full((B,), 0), **zeros), explicit) > 1e-3
    assert rel_diff(call(f, t=T + 0.3), call(f)) > 1e-3  # the noise input matters


def test_dropout_is_a_function_of_the_key(case, net):
    call = case.call
    f = series_apply(net)
    k1, k2 = jax.random.PRNGKey(1), jax.random.PRNGKey(2)
    a = call(f, key=k1)
    np.testing.assert_array_equal(a, call(f, key=k1))
    assert rel_diff(a, call(f, key=k2)) > 1e-3
    assert rel_diff(a, call(f)) > 1e-3


@pytest.mark.slow
def test_overfits_a_fixed_batch_and_trains_every_parameter(case):
    """100 Adam steps of noise prediction on 4 fixed windows, NaN at the padded steps: the
    losses stay finite, every parameter moves, and the loss falls below the net's bound
    (measured ratios in NETS)."""
    net = case.spec.cls(**case.spec.small, rngs=nnx.Rngs(0))
    losses, final, old, new = overfit_losses(net, L, K)
    assert np.all(np.isfinite(losses))
    assert final < case.spec.fit_bound * losses[0], (losses[0], final)
    moved = jax.tree.map(lambda a, b: bool(np.any(np.asarray(a) != np.asarray(b))), new, old)
    frozen = [jax.tree_util.keystr(p) for p, m in jax.tree_util.tree_leaves_with_path(moved)
              if not m]
    assert not frozen, frozen


def test_label_on_unconditional_net(case):
    with pytest.raises(ValueError, match=r"label given but the network was built with "
                                         r"num_classes=None"):
        case.spec.cls(**case.spec.small, rngs=nnx.Rngs(0))(case.X, T, LAB)
