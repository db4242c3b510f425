"""StableNeuralSDE: shapes, noise from the key, class properties of the latent,
invariance to missing points of a line, errors (readout and gradients:
test_nsde_readout_grad.py)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from diffax.neural_sde import SDE_CLASSES, drop_observations

from nsde_model_helpers import B, K, L
from nsde_model_helpers import data as _data
from nsde_model_helpers import jitted as _jitted
from nsde_model_helpers import small as _small


@pytest.mark.parametrize("kind", SDE_CLASSES)
def test_forward_shapes_keys_and_latent(kind):
    run = _jitted(_small(kind))
    x, mask, time = _data()
    out, zs = run(x, mask, time, jax.random.key(5))
    assert out.shape == (B, 3) and zs.shape == (9, B, 6)
    assert np.isfinite(out).all()
    again, _ = run(x, mask, time, jax.random.key(5))
    other, zs_other = run(x, mask, time, jax.random.key(6))
    np.testing.assert_array_equal(out, again)
    assert np.abs(np.asarray(out - other)).max() > 1e-4           # noise is on
    np.testing.assert_allclose(zs[0], zs_other[0])                # same start
    if kind == "gsde":
        assert (np.asarray(zs) > 0).all()
    # the output depends on the observed values only
    hidden = x + 100.0 * (1 - mask)
    np.testing.assert_allclose(run(hidden, mask, time, jax.random.key(5))[0], out,
                               rtol=1e-5, atol=1e-5)


def test_missing_points_of_a_line_leave_the_output_unchanged():
    t = jnp.arange(L, dtype=jnp.float32)
    line = jnp.broadcast_to(jnp.stack([0.3 * t - 1, 1 - 0.1 * t], -1), (B, L, K))
    full = jnp.ones((B, L, K))
    holes = full.at[:, 1:-1].set(drop_observations(full, 0.5, jax.random.key(4))[:, 1:-1])
    key = jax.random.key(8)
    plain = _jitted(_small("lsde", intensity=False))
    np.testing.assert_allclose(plain(line * holes, holes, t, key)[0],
                               plain(line, full, t, key)[0], rtol=1e-5, atol=1e-5)
    counted = _jitted(_small("lsde", intensity=True))   # the intensity channel sees the holes
    assert np.abs(np.asarray(counted(line * holes, holes, t, key)[0]
                             - counted(line, full, t, key)[0])).max() > 1e-4


def test_errors_name_bad_values():
    with pytest.raises(ValueError, match="unknown kind 'sde'"):
        _small("sde")
    with pytest.raises(ValueError, match="unknown readout 'mean'"):
        _small("lsde", readout="mean")
    with pytest.raises(ValueError, match="sigma_max=0.0"):
        _small("lsde", sigma_max=0.0)
    with pytest.raises(ValueError, match="unknown solver 'rk4'"):
        _small("lsde", solver="rk4")
    model = _small("lsde")
    x, mask, time = _data()
    with pytest.raises(ValueError, match=r"x must have shape \(\*, \*, 2\)"):
        model(x[..., :1], mask[..., :1], time, key=jax.random.key(0))
    with pytest.raises(ValueError, match="key=None"):
        model(x, mask, time, key=None)
