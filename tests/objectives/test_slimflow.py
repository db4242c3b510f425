"""SlimFlow: the annealing schedules, annealing reflow's limits (beta = 0 is reflow on an
exact straight coupling: zero loss), and on the Gaussian-mixture oracle a 23x smaller
student (annealing reflow + flow-guided distillation) within a measured factor of the
large 2-rectified flow's one-step error."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from fit_mlp import fit, make_net

from diffax import objectives
from diffax.analytic import GaussianMixture
from diffax.objectives.instaflow import one_step
from diffax.objectives.reflow import Coupling, generate_coupling
from diffax.objectives.slimflow import annealing_beta, annealing_reflow, flow_guided_distillation
from diffax.processes import RectifiedFlow


def test_schedules_and_the_beta_zero_limit(x64):
    np.testing.assert_allclose(annealing_beta("exp", 50, 100), np.exp(-0.5), rtol=1e-6)
    np.testing.assert_allclose(annealing_beta("cosine", 50, 100), 0.5, atol=1e-7)
    np.testing.assert_allclose(annealing_beta("linear", 25, 100), 0.75, rtol=1e-7)
    for s in ("exp", "cosine", "linear"):
        assert float(annealing_beta(s, 0, 100)) == 1.0
    assert float(annealing_beta("linear", 300, 100)) == 0.0
    p = RectifiedFlow(t_min=0.0, t_max=1.0)
    z = jax.random.normal(jax.random.PRNGKey(0), (64, 2), jnp.float64)
    x0 = 2 * z + 1                                  # straight coupling, velocity below exact
    net = lambda params, x, t: -(x - (1 - t[:, None])) / (2 - t[:, None]) - 1
    obj = annealing_reflow(p, coupling=Coupling(z, x0), schedule="linear", anneal_steps=10)
    aux = obj.init(None)
    for _ in range(10):
        aux = obj.update(aux, None, 0)
    key = jax.random.PRNGKey(1)
    loss, m = obj.loss(net, None, aux, {"x": jnp.zeros((16, 2))}, key)
    assert int(aux["step"]) == 10 and float(m["beta"]) == 0.0 and float(loss) < 1e-24
    loss0, m0 = obj.loss(net, None, obj.init(None), {"x": jnp.zeros((16, 2))}, key)
    assert float(m0["beta"]) == 1.0 and float(loss0) > 0.1   # independent noise: not straight
    with pytest.raises(ValueError, match="schedule"):
        annealing_reflow(p, coupling=Coupling(z, x0), schedule="step")
    with pytest.raises(ValueError, match="guidance_weight"):
        flow_guided_distillation(p, coupling=Coupling(z, x0), teacher=net, guidance_weight=0.0)


def _fit_with_updates(obj, net, params, batch, steps):
    """Adam on ``obj.loss`` with ``obj.update`` after each step (the annealing counter)."""
    tx = optax.adam(optax.cosine_decay_schedule(3e-3, steps, alpha=0.05))

    @jax.jit
    def run(params, key):
        def body(carry, k):
            q, opt, aux = carry
            g = jax.grad(lambda q_: obj.loss(net, q_, aux, batch(k), k)[0])(q)
            upd, opt = tx.update(g, opt, q)
            q = optax.apply_updates(q, upd)
            return (q, opt, obj.update(aux, q, 0)), None

        (q, _, aux), _ = jax.lax.scan(body, (params, tx.init(params), obj.init(params)),
                                      jax.random.split(key, steps))
        return q, aux

    return run(params, jax.random.PRNGKey(1))


@pytest.mark.slow
def test_small_student_within_a_measured_factor_of_the_large_flow():
    """Measured (two components, 512 held-out noises, mean squared distance of the one-step
    sample to the exact PF-ODE map): exact 1-rectified flow 5.29; large 2-rectified flow
    (MLP 64x2, 33602 parameters, 600 reflow steps) 0.087. Small student (MLP 16x1, 1442
    parameters): annealing reflow (600 steps, exp schedule over 150) 0.30, then flow-guided
    distillation (400 steps, weight 1, the large flow as teacher) 0.160 (0.174 without
    guidance; the large flow distilled the same way: 0.032)."""
    p = RectifiedFlow()
    gmm = GaussianMixture.isotropic(jnp.array([0.5, 0.5]), jnp.array([[-2., 1.], [2., -1.]]),
                                    jnp.array([0.3, 0.3]))
    v1 = gmm.model_fn("velocity", p)
    z = jax.random.normal(jax.random.PRNGKey(0), (2048, 2))
    zt = jax.random.normal(jax.random.PRNGKey(7), (512, 2))
    exact = generate_coupling(v1, p, zt, prediction="velocity", num_steps=24).data
    c1 = generate_coupling(v1, p, z, prediction="velocity", num_steps=24)
    batch = lambda k: {"x": jnp.zeros((128, 2))}
    err = lambda v: float(jnp.mean(jnp.sum((one_step(v, p, zt, prediction="velocity")
                                            - exact) ** 2, -1)))
    reflow = objectives.get_objective("reflow", p, coupling=c1)
    net_l, p_l = make_net(hidden=64, depth=2)
    p_l, _ = fit(reflow, net_l, p_l, reflow.init(p_l), batch, steps=600)
    v_large = reflow.model_fn(lambda x, c: net_l(p_l, x, c))

    net_s, p_s = make_net(hidden=16, depth=1)
    ann = objectives.get_objective("slimflow_annealing_reflow", p, coupling=c1,
                                   anneal_steps=150)
    p_s, aux = _fit_with_updates(ann, net_s, p_s, batch, 600)
    v_small = ann.model_fn(lambda x, c: net_s(p_s, x, c))
    distill = objectives.get_objective(
        "slimflow_distillation", p,
        coupling=generate_coupling(v_small, p, z, prediction="velocity", num_steps=24),
        teacher=lambda prm, x, t: v_large(x, t), guidance_weight=1.0)
    p_d, _ = fit(distill, net_s, p_s, distill.init(p_s), batch, steps=400, lr=1e-3)
    v_student = distill.model_fn(lambda x, c: net_s(p_d, x, c))
    e1, e_large, e_ann, e_student = err(v1), err(v_large), err(v_small), err(v_student)
    n_large = sum(x.size for x in jax.tree.leaves(p_l))
    n_small = sum(x.size for x in jax.tree.leaves(p_s))
    assert int(aux["step"]) == 600 and n_small * 20 < n_large
    assert e_student < 0.8 * e_ann, (e_ann, e_student)        # distillation helps: 0.53
    assert e_student < 3.0 * e_large, (e_large, e_student)    # measured factor 1.84
    assert e_student < 0.05 * e1, (e1, e_student)             # measured 0.03
