import jax.numpy as jnp
import numpy as np
import pytest

from diffax.training import ema_key, init_ema, update_ema


def test_constant_target_closed_form():
    """With params fixed at p, n updates from e0 give d^n e0 + (1 - d^n) p."""
    d, n = 0.9, 7
    ema = init_ema({"w": jnp.zeros(3)}, (d,))
    p = {"w": jnp.array([1.0, -2.0, 4.0])}
    for i in range(n):
        ema = update_ema(ema, p, jnp.asarray(i), (d,), warmup=False)
    np.testing.assert_allclose(ema[ema_key(d)]["w"], (1 - d**n) * np.array([1.0, -2.0, 4.0]),
                               rtol=1e-6)


def test_warmup_uses_num_updates_rule():
    ema = init_ema({"w": jnp.zeros(())}, (0.999,))
    ema = update_ema(ema, {"w": jnp.ones(())}, jnp.asarray(0), (0.999,), warmup=True)
    # first update: decay min(0.999, 1/10) = 0.1 -> 0.9
    np.testing.assert_allclose(float(ema["ema_0.999"]["w"]), 0.9, rtol=1e-6)


def test_several_decays_are_independent():
    decays = (0.5, 0.99)
    ema = init_ema({"w": jnp.zeros(())}, decays)
    ema = update_ema(ema, {"w": jnp.ones(())}, jnp.asarray(100), decays, warmup=False)
    np.testing.assert_allclose([float(ema[ema_key(d)]["w"]) for d in decays], [0.5, 0.01],
                               rtol=1e-6)


@pytest.mark.parametrize("decays, match", [
    ((1.0,), r"^init_ema: decays\[0\] must be finite and in \[0, 1\), got decays\[0\]=1\.0\.$"),
    ((0.9, -0.1), r"decays\[1\] must be finite and in \[0, 1\), got decays\[1\]=-0\.1"),
    ((0.9, 0.99, 0.9), r"^init_ema: decays must be distinct \(0\.9 occurs more than once\), "
                       r"got decays=\(0\.9, 0\.99, 0\.9\)\.$"),
])
def test_bad_decays(decays, match):
    with pytest.raises(ValueError, match=match):
        init_ema({"w": jnp.zeros(())}, decays)
