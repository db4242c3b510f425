"""batch["loss_mask"]: the regression counts only the marked elements, normalised over the
whole batch (CSDI), and the mask never reaches the model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax import losses
from diffax.processes import VPCosine


def _batch(key, shape=(4, 6, 3)):
    k_x, k_m = jax.random.split(key)
    x = jax.random.normal(k_x, shape)
    mask = (jax.random.uniform(k_m, shape) < 0.4).astype(x.dtype)
    return x, mask.at[0].set(0.0)  # one example without a marked element


def test_masked_loss_is_the_batch_mean_over_marked_elements(x64):
    """A zero eps-model: loss = sum m eps^2 / sum m with the loss's own eps draw."""
    loss_fn = losses.get_loss("dsm", VPCosine(), kind="eps")
    x, mask = _batch(jax.random.PRNGKey(0))
    key = jax.random.PRNGKey(1)
    loss, aux = loss_fn(lambda x_t, t: jnp.zeros_like(x_t), {"x": x, "loss_mask": mask}, key)
    eps = jax.random.normal(jax.random.split(key)[1], x.shape, x.dtype)
    expected = np.sum(mask * eps ** 2) / np.sum(mask)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-13)  # float64 sums
    per_example = np.sum(mask * eps ** 2, axis=(1, 2)) / np.maximum(mask.sum((1, 2)), 1)
    np.testing.assert_allclose(aux["mse"], per_example, rtol=1e-13)
    assert float(aux["mse"][0]) == 0.0  # nothing marked


def test_unmarked_elements_do_not_count():
    """With an element-wise model, changing the data where the mask is 0 leaves the loss
    unchanged (the same program on the same marked values: equal bitwise)."""
    loss_fn = losses.get_loss("dsm", VPCosine(), kind="x0")
    x, mask = _batch(jax.random.PRNGKey(2))
    key = jax.random.PRNGKey(3)
    changed = jnp.where(mask > 0, x, 100.0 + x)
    run = jax.jit(lambda b: loss_fn(lambda x_t, t: 0.5 * x_t, b, key)[0])
    a, b = run({"x": x, "loss_mask": mask}), run({"x": changed, "loss_mask": mask})
    assert float(a) == float(b)
    assert float(run({"x": changed, "loss_mask": jnp.ones_like(mask)})) != float(a)


def test_all_ones_mask_equals_the_unmasked_loss():
    """All elements marked and equal counts: the same loss as without a mask (float32,
    different reduction order: a few ulp)."""
    loss_fn = losses.get_loss("edm", VPCosine())
    x = jax.random.normal(jax.random.PRNGKey(4), (8, 5, 2))
    key = jax.random.PRNGKey(5)
    model = lambda x_t, t: jnp.tanh(x_t) * (1 + t[:, None, None])
    plain, _ = loss_fn(model, {"x": x}, key)
    masked, _ = loss_fn(model, {"x": x, "loss_mask": jnp.ones_like(x)}, key)
    np.testing.assert_allclose(float(masked), float(plain), rtol=1e-6)


def test_the_mask_never_reaches_the_model_and_bad_shapes_are_refused():
    seen = {}

    def model(x_t, t, **cond):
        seen.update(cond)
        return jnp.zeros_like(x_t)

    loss_fn = losses.get_loss("dsm", VPCosine(), kind="eps")
    x = jnp.ones((2, 4, 3))
    loss_fn(model, {"x": x, "loss_mask": jnp.ones((2, 4, 1)), "cond_values": x},
            jax.random.PRNGKey(0))
    assert sorted(seen) == ["cond_values"]
    with pytest.raises(ValueError, match=r"loss_mask'\] of shape \(2, 5\)"):
        loss_fn(model, {"x": x, "loss_mask": jnp.ones((2, 5))}, jax.random.PRNGKey(0))
