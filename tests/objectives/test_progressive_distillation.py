"""Progressive distillation: the closed-form target makes one student DDIM step land on
the teacher's two DDIM steps (to float64 rounding), so chained exact students reproduce
the exact teacher's N-step DDIM output at N/2, N/4, ... 1 steps; a small v-parameterized
MLP trained briefly on the objective beats the teacher's own DDIM at the student's NFE."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from fit_mlp import fit, make_net

from diffax import objectives, predictions
from diffax.analytic import GaussianMixture
from diffax.objectives.progressive_distillation import (
    distillation_target,
    progressive_distillation,
    student_timesteps,
    target_model,
)
from diffax.processes import VPCosine
from diffax.samplers.ddim import ddim


def gmm():
    return GaussianMixture.isotropic(jnp.array([0.5, 0.5]),
                                     jnp.array([[-1.5, 0.5], [1.5, -0.5]]), jnp.array([0.3, 0.3]))


def test_one_student_step_lands_on_two_teacher_steps(x64):
    p = VPCosine()
    teacher = gmm().model_fn("eps", p)
    z = jax.random.normal(jax.random.PRNGKey(0), (32, 2), jnp.float64) * 0.7
    fine = np.asarray(student_timesteps(p, 4))
    assert fine.shape == (5,) and fine[0] == p.t_max and abs(fine[-1] - p.t_min) < 1e-15
    for t, t_mid, t_next in [(0.9946, 0.87, 0.6), (0.5, 0.3, 0.2)]:
        tb = lambda s: jnp.full((32,), s)
        x0 = lambda x, s: predictions.convert(teacher(x, s), "eps", "x0", x, s, p)
        x_tilde = distillation_target(x0, p, z, tb(t), tb(t_mid), tb(t_next))
        one = ddim(lambda x, s: x_tilde, p, z, jnp.array([t, t_next]), prediction="x0").x
        two = ddim(teacher, p, z, jnp.array([t, t_mid, t_next]), prediction="eps").x
        np.testing.assert_allclose(one, two, rtol=0, atol=1e-12)


def test_exact_students_reproduce_the_teacher_at_half_the_steps(x64):
    """8-step exact teacher -> exact students of 4 and 2 steps (each the target model of
    the previous one): every student's DDIM output equals the teacher's 8-step one."""
    p = VPCosine()
    teacher = gmm().model_fn("eps", p)
    z = jax.random.normal(jax.random.PRNGKey(1), (16, 2), jnp.float64)
    want = ddim(teacher, p, z, jnp.linspace(p.t_max, p.t_min, 9), prediction="eps").x
    model, kind = teacher, "eps"
    for n in (4, 2):
        model, kind = target_model(model, kind, p, n), "x0"
        got = ddim(model, p, z, student_timesteps(p, n), prediction="x0").x
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)
    # the exact student has zero distillation loss (v-parameterized net = the target)
    obj = objectives.get_objective("progressive_distillation", p, student_steps=4,
                                   teacher_fn=teacher, teacher_kind="eps")
    exact = target_model(teacher, "eps", p, 4)
    net = lambda params, x, c: predictions.convert(exact(x, c), "x0", "v", x, c, p)
    loss, aux = obj.loss(net, None, obj.init(None), {"x": z}, jax.random.PRNGKey(2))
    assert float(loss) < 1e-20


@pytest.mark.slow
def test_trained_students_halve_the_steps():
    """Two stages from the exact 4-step DDIM teacher (400 Adam steps each, B = 128): the
    2-step and 1-step students' outputs are at mean squared distance 0.0008 and 0.0007
    from the teacher's 4-step output, against 0.20 and 2.1 for the teacher's own DDIM at
    2 and 1 steps."""
    p = VPCosine()
    mix = gmm()
    teacher = mix.model_fn("eps", p)
    net, params = make_net(hidden=64, depth=2)

    def train_stage(objective, params):
        aux = objective.init(params)
        params, losses = fit(objective, net, params, aux,
                             lambda k: {"x": mix.sample(k, 128)}, steps=400)
        assert float(losses[-50:].mean()) < float(losses[:50].mean())
        return params

    stages = progressive_distillation(train_stage, params, process=p, num_steps=4,
                                      num_stages=2, teacher_fn=teacher, teacher_kind="eps")
    assert [n for n, _ in stages] == [2, 1]
    z = jax.random.normal(jax.random.PRNGKey(3), (512, 2))
    want = ddim(teacher, p, z, jnp.linspace(p.t_max, p.t_min, 5), prediction="eps").x
    errs = {}
    for n, params_n in stages:
        student = objectives.get_objective("progressive_distillation", p,
                                           student_steps=n).model_fn(
            lambda x, c, q=params_n: net(q, x, c))
        got = ddim(student, p, z, student_timesteps(p, n), prediction="v").x
        base = ddim(teacher, p, z, student_timesteps(p, n), prediction="eps").x
        errs[n] = (float(jnp.mean(jnp.sum((got - want) ** 2, -1))),
                   float(jnp.mean(jnp.sum((base - want) ** 2, -1))))
    for n, (student_err, teacher_err) in errs.items():
        assert student_err < 0.5 * teacher_err, errs
    with pytest.raises(ValueError, match=r"num_steps=6 cannot be halved num_stages=2 times"):
        progressive_distillation(train_stage, params, process=p, num_steps=6, num_stages=2)
