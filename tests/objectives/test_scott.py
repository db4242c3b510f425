"""SCott's stochastic consistency distillation (issue 20): the teacher step is a
stochastic solver step with a noise strength eta (SDE-DPM-Solver++ by default). With eta
= 0 and one sub-step the SCott loss is the LCM loss with a DDIM teacher (the first-order
DPM-Solver++ step is DDIM); with eta > 0 the teacher's targets from one point x_hi have
the injected variance sigma_lo^2 (1 - e^{-2 eta h}), h the log-SNR/2 gap, one key per
example."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fit_mlp import make_net

from diffax.analytic import GaussianMixture
from diffax.objectives.consistency_variants import (
    SCOTT_ETA,
    lcm_distillation,
    scott_distillation,
)
from diffax.processes import VPLinear


def setup():
    p = VPLinear()
    mix = GaussianMixture.create(np.array([0.6, 0.4]), np.array([[-1.0], [1.5]]),
                                 np.array([[[0.09]], [[0.25]]]))
    exact = mix.model_fn("x0", p)
    return p, mix, (lambda q, x, t, **c: exact(x, t))


def test_eta_zero_is_lcm_with_ddim():
    p, mix, teacher = setup()
    kw = dict(teacher_prediction="x0", prediction="x0", decay=0.0)
    scott = scott_distillation(p, teacher, sampler_options={"eta": 0.0}, teacher_substeps=1,
                               **kw)
    lcm = lcm_distillation(p, teacher, **kw)
    net, params = make_net(dim=1, hidden=32, depth=1)
    batch = {"x": mix.sample(jax.random.PRNGKey(0), 64)}
    key = jax.random.PRNGKey(1)
    la = scott.loss(net, params, scott.init(params), batch, key)[1]["per_example"]
    lb = lcm.loss(net, params, lcm.init(params), batch, key)[1]["per_example"]
    np.testing.assert_allclose(la, lb, rtol=1e-4, atol=1e-7)
    assert float(jnp.mean(la)) > 0.0


def test_noise_strength_sets_the_target_variance():
    p, mix, teacher = setup()
    eta = 0.7
    obj = scott_distillation(p, teacher, sampler_options={"eta": eta}, teacher_substeps=1,
                             teacher_prediction="x0")
    n = 4000
    t_hi, t_lo = jnp.full((n,), 0.6), jnp.full((n,), 0.5)
    x_hi = jnp.full((n, 1), 0.3)
    out = jax.jit(lambda k: obj.teacher_step((), x_hi, t_hi, t_lo, {}, key=k))(
        jax.random.PRNGKey(2))
    h = 0.5 * (p.log_snr(0.5) - p.log_snr(0.6))
    var = float(p.sigma(0.5) ** 2 * -np.expm1(-2 * eta * h))
    sample_var = float(jnp.var(out))
    # the variance of a sample variance of n normals: 2 var^2 / (n - 1); 5 standard errors
    assert abs(sample_var - var) < 5 * var * np.sqrt(2 / (n - 1)), (sample_var, var)
    # eta = 0: the same point for every key
    det = scott_distillation(p, teacher, sampler_options={"eta": 0.0}, teacher_substeps=2,
                             teacher_prediction="x0")
    out0 = det.teacher_step((), x_hi[:8], t_hi[:8], t_lo[:8], {}, key=jax.random.PRNGKey(3))
    np.testing.assert_allclose(out0, out0[:1].repeat(8, 0), rtol=1e-6)
    assert SCOTT_ETA == 0.5


def test_scott_refuses_a_deterministic_sampler():
    p, _, teacher = setup()
    with pytest.raises(ValueError, match="not a stochastic"):
        scott_distillation(p, teacher, sampler="euler")
    with pytest.raises(ValueError, match="teacher_substeps"):
        scott_distillation(p, teacher, teacher_substeps=0)
