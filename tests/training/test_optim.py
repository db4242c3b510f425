import numpy as np
import pytest

from diffax.training import make_lr_schedule, make_optimizer


def test_warmup_then_cosine_values():
    lr = make_lr_schedule(1e-3, num_steps=110, warmup_steps=10, schedule="cosine",
                          final_lr_fraction=0.1)
    assert float(lr(0)) == 0.0
    np.testing.assert_allclose(float(lr(5)), 0.5e-3, rtol=1e-6)
    np.testing.assert_allclose(float(lr(10)), 1e-3, rtol=1e-6)
    # halfway through the cosine: (1 + cos(pi/2))/2 -> mean of start and floor
    np.testing.assert_allclose(float(lr(60)), 1e-3 * (0.1 + 0.9 * 0.5), rtol=1e-5)
    np.testing.assert_allclose(float(lr(110)), 1e-4, rtol=1e-5)


def test_constant_schedule_after_warmup():
    lr = make_lr_schedule(2e-4, num_steps=1000, warmup_steps=100)
    np.testing.assert_allclose([float(lr(s)) for s in (50, 100, 999)], [1e-4, 2e-4, 2e-4],
                               rtol=1e-6)


def test_gradient_clipping_bounds_the_update():
    import jax.numpy as jnp
    tx, _ = make_optimizer(1.0, num_steps=10, optimizer="adamw", grad_clip=0.5)
    params = {"w": jnp.zeros(4)}
    state = tx.init(params)
    # the chain's first stage is the clip: inspect the gradient Adam receives through
    # its first moment, mu = (1 - b1) * clipped_grad
    _, new_state = tx.update({"w": jnp.full(4, 10.0)}, state, params)
    mu = new_state[1][0].mu["w"]
    np.testing.assert_allclose(float(jnp.linalg.norm(mu / 0.1)), 0.5, rtol=1e-5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(schedule="linear"), "valid choices"),
    (dict(optimizer="sgd"), "valid choices"),
    (dict(weight_decay=0.1), "adamw"),
    (dict(grad_clip=-1.0), "grad_clip"),
    (dict(final_lr_fraction=2.0), "final_lr_fraction"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_optimizer(1e-3, num_steps=10, **kwargs)
