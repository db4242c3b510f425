"""The PFGM++ loss and objective (diffax/losses/pfgmpp.py, diffax/objectives/pfgmpp.py):
the kernel's moments through the loss, EDM's weight and preconditioning, family errors, and
a short training run on a 2-D mixture at D = 128 whose samples (pfgmpp_heun from the
kernel's prior) come within a measured bound of the data."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from diffax import losses, nn, objectives, predictions
from diffax.data.toys import gmm2d_mixture
from diffax.metrics.sliced_wasserstein import sliced_wasserstein
from diffax.processes import EDM, PFGMPP, VPLinear
from diffax.samplers import get_sampler, get_schedule


def test_loss_draws_the_kernel_and_weights_like_edm(x64):
    """With D(x) = x the per-example mse is R^2 / N, R the kernel radius: E[R^2] / sigma^2
    = N D / (D - 2) (multivariate t), here 4/3 at D = 8; weight = EDM's lambda(sigma)."""
    p = PFGMPP(D=8.0, data_dim=2)
    n = 40000
    aux = losses.get_loss("pfgmpp", p, sigma_data=0.7)(
        lambda x, t: x, {"x": jnp.zeros((n, 2))}, jax.random.key(0))[1]
    s = aux["t"]
    np.testing.assert_allclose(aux["weight"], (s**2 + 0.49) / (0.7 * s) ** 2, rtol=1e-12)
    ratio = aux["mse"] / s**2  # R^2 / (N sigma^2)
    # BetaPrime(1, 4) ratio * D / N: sd sqrt(var)/sqrt(n) ~ 0.012 at n = 40000
    assert abs(float(jnp.mean(ratio)) - 8 / 6) < 0.05
    assert abs(float(jnp.mean(jnp.log(s))) + 1.2) < 0.05  # ln sigma ~ N(-1.2, 1.2^2)


def test_precondition_is_edms_and_errors():
    net = lambda x, c: jnp.sin(x) * c[:, None]  # noqa: E731
    x, t = jnp.array([[0.3, -1.0], [2.0, 0.5]]), jnp.array([0.1, 3.0])
    ours = objectives.pfgmpp.pfgmpp_precondition(net, 0.5)(x, t)
    np.testing.assert_allclose(ours, predictions.edm_precondition(net, EDM(), 0.5)(x, t),
                               rtol=1e-6)
    p = PFGMPP(D=128.0, data_dim=2)
    with pytest.raises(ValueError, match="PFGM.. process.*VPLinear"):
        objectives.get_objective("pfgmpp", VPLinear())
    with pytest.raises(ValueError, match=r"parameterization 'v'.*\['edm', 'x0'\]"):
        objectives.get_objective("pfgmpp", p, parameterization="v")
    with pytest.raises(ValueError, match="sigma_data is stated once"):
        objectives.get_objective("pfgmpp", p, loss_kwargs={"sigma_data": 1.0})
    with pytest.raises(ValueError, match="loss 'edm' is for gaussian processes"):
        objectives.get_objective("pfgmpp", p, loss="edm")
    assert objectives.OBJECTIVES.family("pfgmpp") == "pfgmpp"


@pytest.mark.slow
def test_training_on_a_2d_mixture_at_d128():
    """A few hundred Adam steps of a small MLP; samples from the kernel's prior through 17
    Heun steps. Sliced W2 to held-out data vs the two-sample floor (two data sets of the
    same size, 1024 points): measured floor 0.147, model 0.102 after 250 steps (batch 256)."""
    p = PFGMPP(D=128.0, data_dim=2)
    obj = objectives.get_objective("pfgmpp", p, sigma_data=1.5)
    net = nn.get_network("mlp", data_dim=2, hidden=64, depth=2, time_scale=250.0,
                         rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(net)
    apply = lambda prm, x, c: nnx.merge(graphdef, prm)(x, c)  # noqa: E731
    mix = gmm2d_mixture()
    tx = optax.adam(3e-3)
    opt = tx.init(params)

    @jax.jit
    def step(params, opt, key):
        k_data, k_loss = jax.random.split(key)
        batch = {"x": mix.sample(k_data, 256)}
        loss, grads = jax.value_and_grad(
            lambda prm: obj.loss(apply, prm, (), batch, k_loss)[0])(params)
        updates, opt = tx.update(grads, opt, params)
        return optax.apply_updates(params, updates), opt, loss

    key = jax.random.key(1)
    for i in range(250):
        params, opt, loss = step(params, opt, jax.random.fold_in(key, i))
        if i % 16 == 0:
            float(loss)
    n = 1024
    model = obj.model_fn(lambda x, c: apply(params, x, c))
    x_init = p.prior_sample(jax.random.key(2), (n, 2))
    x = jax.jit(lambda x0: get_sampler("pfgmpp_heun")(
        model, p, x0, get_schedule("pfgmpp_karras", p, 17)).x)(x_init)
    data, data2 = mix.sample(jax.random.key(3), n), mix.sample(jax.random.key(4), n)
    k = jax.random.key(5)
    floor = float(sliced_wasserstein(k, data, data2))
    sw = float(sliced_wasserstein(k, x, data))
    assert np.all(np.isfinite(x)) and sw < 2 * floor, (sw, floor)
