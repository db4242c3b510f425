"""DiffusionMBIR (diffax.inverse.mbir) with exact denoisers: without data consistency it
is the DDIM sampler; with the point-mass prior at the truth it recovers the truth; with a
wrong prior the ADMM/CG step restores measurement consistency; the TV along z makes the
slices coherent."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.data import phantoms
from diffax.inverse import Radon
from diffax.inverse.mbir import diffusion_mbir
from diffax.inverse.mbir_fbp import fbp
from diffax.processes import get_process
from diffax.samplers import get_sampler, schedules

PROCESS = get_process("edm")
OP = Radon.sparse_view(4)
TRUTH = jnp.asarray(2.0 * phantoms.shepp_logan_3d(12)[3:9, ..., None] - 1.0)  # 6 slices


def point_mass(x_star):
    """x0-prediction of the prior concentrated at x_star (exact for that prior)."""
    return lambda x, t: jnp.broadcast_to(x_star, x.shape)


def run(x_star, steps=12, **kw):
    ts = schedules.karras(PROCESS, steps)
    x_init = PROCESS.prior_sample(jax.random.PRNGKey(0), TRUTH.shape)
    return diffusion_mbir(point_mass(x_star), PROCESS, x_init, ts, operator=OP, y=OP(TRUTH),
                          key=jax.random.PRNGKey(1), prediction="x0", **kw)


def rmse(a, b):
    return float(jnp.sqrt(jnp.mean((a - b) ** 2)))


def test_without_consistency_it_is_ddim():
    model = lambda x, t: jnp.tanh(0.3 * x)  # any x0 model
    ts = schedules.karras(PROCESS, 8)
    x_init = PROCESS.prior_sample(jax.random.PRNGKey(0), TRUTH.shape)
    out = diffusion_mbir(model, PROCESS, x_init, ts, operator=OP, y=OP(TRUTH),
                         key=jax.random.PRNGKey(1), prediction="x0", lam=0.0, n_cg=0, eta=0.0)
    ref = get_sampler("ddim")(model, PROCESS, x_init, ts, prediction="x0", eta=0.0)
    np.testing.assert_allclose(out.x, ref.x, atol=1e-5 * float(jnp.abs(ref.x).max()))
    assert out.nfe == 8


@pytest.mark.parametrize("consistency, steps", [("state", 50), ("x0", 50)])
def test_exact_prior_recovers_the_truth(consistency, steps):
    # the ADMM variables (z, u) start at 0 and are carried across steps (as in the
    # paper): measured errors 0.003 (both modes) at 50 steps; at 12 steps the state mode
    # is still far off (1.0: z, u hold the differences of the sigma = 80 states)
    out = run(TRUTH, steps=steps, lam=0.01, rho=1.0, n_cg=2, consistency=consistency)
    fbp_err = rmse(2.0 * fbp(OP(TRUTH) / 2.0 + OP(jnp.ones_like(TRUTH)) / 2.0, OP) - 1.0,
                   TRUTH)  # FBP of the same data (in [0, 1] units, mapped to [-1, 1])
    # the last state is x* + sigma_min e: error ~ sigma_min = 0.002, plus the bias of
    # lam ||D_z x||_1 (x* is not its minimiser)
    assert rmse(out.x, TRUTH) < 0.02 < fbp_err


def test_consistency_step_fits_the_measurements():
    wrong = TRUTH + 0.3 * jnp.sin(jnp.arange(12.0))[None, :, None, None]
    y = OP(TRUTH)
    for consistency in ("state", "x0"):
        out = run(wrong, lam=0.0, rho=1e-4, n_cg=30, consistency=consistency)
        # measured: 30 float32 CG iterations shrink the residual of the wrong prior 35x
        res = float(jnp.linalg.norm(OP(out.x) - y))
        assert res < 0.1 * float(jnp.linalg.norm(OP(wrong) - y)), (consistency, res)
    plain = run(wrong, lam=0.0, n_cg=0)
    assert rmse(plain.x, wrong) < 0.01  # without consistency the prior wins


def test_tv_along_z_makes_the_slices_coherent():
    # a z-constant truth and a prior that adds a different offset image to every slice
    truth = jnp.broadcast_to(TRUTH[3:4], TRUTH.shape)
    offsets = 0.2 * jax.random.normal(jax.random.PRNGKey(3), TRUTH.shape)
    ts = schedules.karras(PROCESS, 12)
    x_init = PROCESS.prior_sample(jax.random.PRNGKey(0), TRUTH.shape)

    def solve(lam):
        return diffusion_mbir(point_mass(truth + offsets), PROCESS, x_init, ts, operator=OP,
                              y=OP(truth), key=jax.random.PRNGKey(1), prediction="x0",
                              lam=lam, rho=1.0, n_cg=2, consistency="x0").x

    jump = lambda x: float(jnp.abs(jnp.diff(x, axis=0)).mean())
    without, with_tv = solve(0.0), solve(1.0)
    assert jump(with_tv) < 0.5 * jump(without)
    assert rmse(with_tv, truth) < rmse(without, truth)


def test_bad_input():
    with pytest.raises(ValueError, match="consistency"):
        run(TRUTH, consistency="both")
    with pytest.raises(ValueError, match="n_cg"):
        run(TRUTH, n_cg=-1)
    with pytest.raises(ValueError, match="shape"):
        diffusion_mbir(point_mass(TRUTH), PROCESS, TRUTH, schedules.karras(PROCESS, 3),
                       operator=OP, y=jnp.zeros((6, 3, 12)), key=jax.random.PRNGKey(0),
                       prediction="x0")
