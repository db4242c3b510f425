"""Value tests of the Gaussian forward processes (diffax/processes), part 2:
DiscreteDDPM and cosine specifics, jit / vmap / grad over processes, bad arguments,
prior and kernel densities, EDM helpers.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from diffax.processes import (
    EDM,
    PROCESSES,
    VE,
    DiscreteDDPM,
    RectifiedFlow,
    SubVP,
    VPCosine,
    VPLinear,
    broadcast_to_x,
    get_process,
    karras_sigmas,
)


from process_cases import (
    N_MC, NT, ev, interior_grid, make, np_cosine_alpha_bar, np_vp_linear_alpha,
    reference_alpha_sigma,
)


# ---- 5. DiscreteDDPM ----------------------------------------------------------------

def test_ddpm_grid_points_are_alphas_cumprod(x64):
    N = 1000
    p = DiscreteDDPM.linear(N, 1e-4, 0.02)
    alphas_cumprod = np.cumprod(1.0 - np.linspace(1e-4, 0.02, N))
    n = np.unique(np.round(np.linspace(1, N, NT)).astype(int))
    assert n.shape == (NT,) and n[0] == 1 and n[-1] == N
    tn = n / N
    e = ev(p, tn)
    np.testing.assert_allclose(e["alpha"] ** 2, alphas_cumprod[n - 1], rtol=1e-12)
    np.testing.assert_allclose(e["sigma"] ** 2, 1 - alphas_cumprod[n - 1], rtol=1e-11)
    np.testing.assert_allclose(e["t_inv"], tn, rtol=1e-12)
    all_n = np.arange(1, N + 1)
    np.testing.assert_allclose(p.model_step(all_n / N), all_n - 1, rtol=0, atol=1e-9)
    assert p.n_steps == N
    assert p.t_min == pytest.approx(1.0 / N) and p.t_max == 1.0


def test_ddpm_log_alpha_is_piecewise_linear(x64):
    N = 20
    p = make("ddpm_short")  # DiscreteDDPM.linear(20, 1e-3, 0.2)
    betas = np.linspace(1e-3, 0.2, N)
    la = 0.5 * np.log(np.cumprod(1 - betas))
    seg = np.repeat([1, 4, 10, 19], 16)[:NT - 1]  # segment [t_n, t_{n+1}], t_n = n/N
    w = np.tile(np.linspace(0.03, 0.97, 16), 4)[:NT - 1]
    t = np.append((seg + w) / N, 0.4 / N)  # last: below t_1, linearly extrapolated
    e = ev(p, t)
    want = np.append((1 - w) * la[seg - 1] + w * la[seg], la[0] - 0.6 * (la[1] - la[0]))
    np.testing.assert_allclose(e["log_alpha"], want, rtol=1e-12)
    slope = np.append((la[seg] - la[seg - 1]) * N, (la[1] - la[0]) * N)
    np.testing.assert_allclose(e["d_log_alpha"], slope, rtol=1e-10)
    assert float(p.model_step(7.25 / N)) == pytest.approx(6.25, rel=1e-12)


def test_ddpm_scaled_linear_schedule(x64):
    p = DiscreteDDPM.scaled_linear(1000, 0.00085, 0.012)
    betas = np.linspace(0.00085**0.5, 0.012**0.5, 1000) ** 2
    np.testing.assert_allclose(p.betas, betas, rtol=1e-14)
    n = np.arange(NT) * 15 + 55  # 55 ... 1000
    e = ev(p, n / 1000)
    np.testing.assert_allclose(e["alpha"] ** 2, np.cumprod(1 - betas)[n - 1], rtol=1e-12)


def test_vp_linear_is_continuous_limit_of_ddpm_linear(x64):
    cont, disc = VPLinear(0.1, 20.0), DiscreteDDPM.linear(1000, 1e-4, 0.02)
    t = np.linspace(1e-3, 1.0, NT)
    ec, ed = ev(cont, t), ev(disc, t)
    np.testing.assert_allclose(ed["alpha"], ec["alpha"], atol=1e-2)
    np.testing.assert_allclose(ed["sigma"], ec["sigma"], atol=1e-2)
    # the same schedule: a different one (beta_max = 10) is far away
    assert np.max(np.abs(ev(VPLinear(0.1, 10.0), t)["alpha"] - ed["alpha"])) > 0.1
    # drift to O(1/N): f_disc = N/2 log(1 - beta_n) vs -beta(t)/2
    tm = interior_grid(disc)
    np.testing.assert_allclose(ev(disc, tm)["f"], ev(cont, tm)["f"], rtol=0.02, atol=0.01)


# ---- 6. VPCosine --------------------------------------------------------------------

@pytest.mark.parametrize("s", [0.008, 0.02])
def test_vp_cosine_alpha_bar_nichol_dhariwal(s, x64):
    p = VPCosine(s=s)
    t = np.linspace(0.0, p.t_max, NT)
    np.testing.assert_allclose(ev(p, t)["alpha"] ** 2, np_cosine_alpha_bar(t, s), rtol=1e-12,
                               atol=1e-15)
    # the discrete alpha_bar of the paper at t = n/T, T = 1000
    T = 1000
    n = np.unique(np.round(np.linspace(0, 989, NT)))
    assert n.shape == (NT,)
    f = np.cos((n / T + s) / (1 + s) * np.pi / 2) ** 2
    np.testing.assert_allclose(ev(p, n / T)["alpha"] ** 2, f / f[0], rtol=1e-12, atol=1e-15)


# ---- 7. pytrees: jit, vmap, grad ----------------------------------------------------

HYPER_VARIANTS = {  # same treedef, different leaves
    "vp_linear": lambda: VPLinear(0.5, 5.0),
    "vp_cosine": lambda: VPCosine(s=0.02),
    "ddpm_discrete": lambda: DiscreteDDPM.scaled_linear(),
    "sub_vp": lambda: SubVP(0.5, 5.0),
    "ve": lambda: VE(0.002, 80.0),
}


@pytest.mark.parametrize("name", PROCESSES.names("gaussian"))
def test_jit_over_process_argument(name):
    traces = []

    @jax.jit
    def coefs(proc, t):
        traces.append(1)
        return proc.alpha(t), proc.sigma(t), proc.prior_std

    p = make(name)
    t = interior_grid(p, 5)
    variants = [(name, p)]
    if name in HYPER_VARIANTS:
        variants.append((name, HYPER_VARIANTS[name]()))
    for ref_name, q in variants:
        a, s, prior_std = coefs(q, jnp.asarray(t, jnp.float32))
        a_ref, s_ref = reference_alpha_sigma(ref_name, q, t)
        np.testing.assert_allclose(a, a_ref, rtol=2e-5, atol=1e-6)
        np.testing.assert_allclose(s, s_ref, rtol=2e-5, atol=1e-6)
        s_max = reference_alpha_sigma(ref_name, q, np.array([q.t_max]))[1][0]
        assert float(prior_std) == pytest.approx(s_max, rel=2e-5)
    assert len(traces) == 1  # hyper-parameters are leaves: no retrace for new values
    # a process survives tree round trips with its static fields
    q = jax.tree.map(lambda x: x, p)
    assert type(q) is type(p) and (q.t_min, q.t_max) == (p.t_min, p.t_max)
    # zeros_like (as optimisers and gradients do) rebuilds the process without raising
    z = jax.tree.map(jnp.zeros_like, p)
    assert type(z) is type(p) and (z.t_min, z.t_max) == (p.t_min, p.t_max)
    assert all(float(jnp.abs(leaf).max()) == 0 for leaf in jax.tree.leaves(z))


def test_pytree_leaves_and_static_fields():
    assert len(jax.tree.leaves(VPLinear())) == 2
    assert len(jax.tree.leaves(VE())) == 2
    assert len(jax.tree.leaves(SubVP())) == 2
    assert len(jax.tree.leaves(VPCosine())) == 1
    assert jax.tree.leaves(EDM()) == [] and jax.tree.leaves(RectifiedFlow()) == []
    (b,) = jax.tree.leaves(DiscreteDDPM.linear(100))
    assert b.shape == (100,)
    # t_min/t_max are static: a different truncation gives a different treedef
    assert jax.tree.structure(VPLinear(t_min=1e-3)) != jax.tree.structure(VPLinear(t_min=1e-5))
    assert jax.tree.structure(VPLinear(0.1, 20.0)) == jax.tree.structure(VPLinear(1.0, 2.0))


def test_vmap_over_hyper_parameters(x64):
    t = 0.6
    bmax = jnp.array([1.0, 5.0, 20.0])
    got = jax.vmap(lambda bm: VPLinear(beta_min=0.1, beta_max=bm).alpha(t))(bmax)
    np.testing.assert_allclose(got, np_vp_linear_alpha(t, 0.1, np.asarray(bmax)), rtol=1e-13)
    # vmap over a batched process (in_axes=0 over its leaves)
    batched = VPLinear(beta_min=jnp.full(3, 0.1), beta_max=bmax)
    got = jax.vmap(lambda p: p.diffusion_sq(t))(batched)
    np.testing.assert_allclose(got, 0.1 + t * (np.asarray(bmax) - 0.1), rtol=1e-13)
    smax = jnp.array([10.0, 50.0, 80.0])
    got = jax.vmap(lambda sm: VE(0.01, sm).sigma(t))(smax)
    np.testing.assert_allclose(got, 0.01 * (np.asarray(smax) / 0.01) ** t, rtol=1e-13)
    s = jnp.array([0.004, 0.008, 0.02])
    got = jax.vmap(lambda s_: VPCosine(s=s_).alpha(t) ** 2)(s)
    np.testing.assert_allclose(got, [np_cosine_alpha_bar(t, float(si)) for si in s], rtol=1e-12)
    got = jax.vmap(lambda bm: SubVP(0.1, bm).sigma(t))(bmax)
    np.testing.assert_allclose(got, 1 - np_vp_linear_alpha(t, 0.1, np.asarray(bmax)) ** 2,
                               rtol=1e-12)
    betas = jnp.stack([jnp.linspace(1e-3, b1, 20) for b1 in (0.05, 0.1, 0.2)])
    got = jax.jit(jax.vmap(lambda b: DiscreteDDPM(betas=b, t_min=0.05).alpha(1.0) ** 2))(betas)
    np.testing.assert_allclose(got, np.prod(1 - np.asarray(betas), axis=1), rtol=1e-12)


def test_grad_wrt_hyper_parameters(x64):
    t = 0.5
    # log alpha = -(b1 - b0) t^2/4 - b0 t/2
    a = np_vp_linear_alpha(t, 0.1, 20.0)
    g = jax.grad(lambda bm: VPLinear(0.1, bm).alpha(t))(20.0)
    assert float(g) == pytest.approx(-(t**2) / 4 * a, rel=1e-12)
    # gradient w.r.t. the whole process (a pytree of cotangents, which may be negative)
    gp = jax.grad(lambda p: p.alpha(t))(VPLinear(0.1, 20.0))
    assert isinstance(gp, VPLinear)
    assert float(gp.beta_min) == pytest.approx((t**2 / 4 - t / 2) * a, rel=1e-12)
    assert float(gp.beta_max) == pytest.approx(-(t**2) / 4 * a, rel=1e-12)
    # VE: sigma = smin^(1-t) smax^t
    gv = jax.grad(lambda p: p.sigma(t))(VE(0.01, 50.0))
    sig = 0.01 ** (1 - t) * 50.0**t
    assert float(gv.sigma_min) == pytest.approx(sig * (1 - t) / 0.01, rel=1e-12)
    assert float(gv.sigma_max) == pytest.approx(sig * t / 50.0, rel=1e-12)
    # VPCosine s, SubVP beta_max, the VPLinear diffusion against central differences
    for fn, x in [(lambda s: VPCosine(s=s).alpha(t), 0.008),
                  (lambda bm: SubVP(0.1, bm).sigma(t), 5.0),
                  (lambda bm: VPLinear(0.1, bm).diffusion_sq(t), 5.0)]:
        g = float(jax.grad(fn)(x))
        h = 1e-6 * x
        fd = (float(fn(x + h)) - float(fn(x - h))) / (2 * h)
        assert np.isfinite(g) and g == pytest.approx(fd, rel=1e-6)
    # DDPM: d log alpha(t_n) / d beta_i = -1/(2 (1 - beta_i)) for i <= n, else 0
    p = make("ddpm_short")
    gd = jax.jit(jax.grad(lambda q: q.log_alpha(7 / 20)))(p)
    want = np.where(np.arange(20) < 7, -0.5 / (1 - np.asarray(p.betas)), 0.0)
    np.testing.assert_allclose(gd.betas, want, rtol=1e-12, atol=1e-15)
    assert gd.t_min == p.t_min


# ---- 8. bad arguments ---------------------------------------------------------------

@pytest.mark.parametrize(
    "build, fragments",
    [
        (lambda: VPLinear(beta_min=-1), ["beta_min", "-1"]),
        (lambda: VPLinear(beta_min=0.0), ["beta_min", "0.0"]),
        (lambda: VPLinear(beta_min=1, beta_max=0.5), ["beta_max=0.5", "beta_min=1"]),
        (lambda: VPLinear(t_min=0.5, t_max=0.2), ["t_min=0.5", "t_max=0.2"]),
        (lambda: VPCosine(s=-0.1), ["s", "-0.1"]),
        (lambda: VPCosine(t_max=1.0), ["t_max=1.0"]),
        (lambda: VE(sigma_min=1, sigma_max=0.5), ["sigma_max=0.5", "sigma_min=1"]),
        (lambda: VE(sigma_min=-0.1), ["sigma_min", "-0.1"]),
        (lambda: EDM(t_min=1, t_max=0.5), ["t_min=1", "t_max=0.5"]),
        (lambda: EDM(t_min=0.0), ["t_min=0.0"]),
        (lambda: SubVP(beta_min=2.0, beta_max=1.0), ["beta_max=1.0", "beta_min=2.0"]),
        (lambda: SubVP(t_max=1.5), ["t_max=1.5"]),
        (lambda: DiscreteDDPM(betas=[0.5, 1.5]), ["1.5"]),
        (lambda: DiscreteDDPM(betas=[0.0, 0.5]), ["0.0"]),
        (lambda: DiscreteDDPM(betas=[0.1]), ["(1,)"]),
        (lambda: DiscreteDDPM(betas=np.full((2, 3), 0.1)), ["(2, 3)"]),
        (lambda: DiscreteDDPM(), ["betas", "DiscreteDDPM.linear"]),
        (lambda: DiscreteDDPM.linear(1), ["n_steps", "1"]),
        (lambda: DiscreteDDPM(betas=[0.1, 0.2], t_min=0.0, t_max=1.2), ["t_max=1.2"]),
        (lambda: RectifiedFlow(t_min=-0.1), ["t_min=-0.1"]),
        (lambda: RectifiedFlow(t_max=1.5), ["t_max=1.5"]),
        (lambda: get_process("nope"), ["'nope'"] + sorted(PROCESSES)),
        (lambda: get_process("vp_linear", beta_min=-2.0), ["beta_min", "-2.0"]),
        (lambda: karras_sigmas(1), ["n=1"]),
        (lambda: karras_sigmas(10, sigma_min=5.0, sigma_max=1.0), ["sigma_min=5.0"]),
        (lambda: karras_sigmas(10, rho=0.0), ["rho=0.0"]),
    ],
)
def test_bad_arguments_raise_naming_the_value(build, fragments):
    with pytest.raises(ValueError) as info:
        build()
    for frag in fragments:
        assert frag in str(info.value), (frag, str(info.value))


@pytest.mark.parametrize("name", PROCESSES.names("gaussian"))
def test_validate_time(name):
    p = make(name)
    p.validate_time(p.t_min)
    p.validate_time(p.t_max)
    p.validate_time(0.5 * (p.t_min + p.t_max))
    for bad in (p.t_min - 1e-4 * (1 + p.t_min), p.t_max + 0.5):
        with pytest.raises(ValueError) as info:
            p.validate_time(bad, name="t_start")
        msg = str(info.value)
        assert f"t_start={bad}" in msg and str(p.t_min) in msg and str(p.t_max) in msg


def test_broadcast_to_x():
    x = jnp.zeros((4, 3, 2))
    assert broadcast_to_x(2.0, x).shape == ()
    c = broadcast_to_x(jnp.arange(4.0), x)
    assert c.shape == (4, 1, 1)
    np.testing.assert_array_equal((c + x)[:, 2, 1], np.arange(4.0))
    assert broadcast_to_x(jnp.ones((4, 3)), x).shape == (4, 3, 1)
    with pytest.raises(ValueError, match=r"\(3,\).*\(4, 3, 2\)"):
        broadcast_to_x(jnp.ones(3), x)
    with pytest.raises(ValueError, match=r"\(4, 3, 2, 1\)"):
        broadcast_to_x(jnp.ones((4, 3, 2, 1)), x)
    with pytest.raises(ValueError, match=r"\(5,\)"):
        VPLinear().perturb(x, jnp.full((5,), 0.5), x)


# ---- 9. prior and kernel densities --------------------------------------------------

@pytest.mark.parametrize("name", PROCESSES.names("gaussian"))
def test_prior_log_prob_and_sample(name, x64):
    p = make(name)
    s_max = reference_alpha_sigma(name, p, np.array([p.t_max]))[1][0]
    assert float(p.prior_std) == pytest.approx(s_max, rel=1e-12)
    z = np.random.default_rng(1).normal(size=(5, 3, 2)) * 2 * s_max
    np.testing.assert_allclose(p.prior_log_prob(z),
                               stats.norm.logpdf(z, scale=s_max).sum(axis=(1, 2)), rtol=1e-12)
    np.testing.assert_allclose(p.prior_log_prob(z[:, 0, 0]),
                               stats.norm.logpdf(z[:, 0, 0], scale=s_max), rtol=1e-12)
    x = np.asarray(p.prior_sample(jax.random.PRNGKey(0), (N_MC,), jnp.float64))
    assert x.dtype == np.float64 and x.shape == (N_MC,)
    assert abs(x.mean()) < 5 * s_max / math.sqrt(x.size)
    assert abs(x.std() - s_max) < 5 * s_max / math.sqrt(2 * x.size)


@jax.jit
def kernel_quantities(p, xt, x0, t):
    return (p.kernel_log_prob(xt, x0, t), p.kernel_log_prob(xt, x0, t[0]),
            p.kernel_log_prob(xt[:, 0, 0], x0[:, 0, 0], t))


@pytest.mark.parametrize("name", PROCESSES.names("gaussian"))
def test_kernel_log_prob(name, x64):
    p = make(name)
    rng = np.random.default_rng(2)
    t = interior_grid(p, 4)
    a, s = reference_alpha_sigma(name, p, t)
    a3, s3 = a[:, None, None], s[:, None, None]
    x0 = rng.normal(size=(4, 3, 2))
    xt = a3 * x0 + s3 * rng.normal(size=x0.shape) * 1.3
    per_example, scalar_t, one_d = kernel_quantities(p, xt, x0, jnp.asarray(t))
    want = stats.norm.logpdf(xt, loc=a3 * x0, scale=s3).sum(axis=(1, 2))
    np.testing.assert_allclose(per_example, want, rtol=1e-10)
    want = stats.norm.logpdf(xt, loc=a[0] * x0, scale=s[0]).sum(axis=(1, 2))
    np.testing.assert_allclose(scalar_t, want, rtol=1e-10)
    # 1-D data (B,): one value per example, like prior_log_prob
    want = stats.norm.logpdf(xt[:, 0, 0], loc=a * x0[:, 0, 0], scale=s)
    np.testing.assert_allclose(one_d, want, rtol=1e-10)


# ---- EDM helpers and the registry ----------------------------------------------------

def test_karras_sigmas(x64):
    n, smin, smax, rho = 18, 0.002, 80.0, 7.0
    got = np.asarray(karras_sigmas(n, smin, smax, rho))
    i = np.arange(n)
    want = (smax ** (1 / rho) + i / (n - 1) * (smin ** (1 / rho) - smax ** (1 / rho))) ** rho
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got[0] == pytest.approx(smax, rel=1e-12) and got[-1] == pytest.approx(smin, rel=1e-12)
    assert np.all(np.diff(got) < 0)
    # rho = 1 is a uniform grid
    np.testing.assert_allclose(karras_sigmas(5, 1.0, 5.0, 1.0), [5, 4, 3, 2, 1], rtol=1e-12)
    p = EDM(t_min=0.01, t_max=10.0)
    np.testing.assert_allclose(p.karras_timesteps(9, rho=3.0),
                               karras_sigmas(9, 0.01, 10.0, 3.0), rtol=1e-14)


def test_get_process_forwards_kwargs():
    p = get_process("vp_linear", beta_max=10.0, t_min=1e-4)
    assert isinstance(p, VPLinear) and p.beta_max == 10.0 and p.t_min == 1e-4
    d = get_process("ddpm_discrete", n_steps=10)
    assert isinstance(d, DiscreteDDPM) and d.n_steps == 10 and d.t_min == pytest.approx(0.1)
    assert float(get_process("edm", t_max=10.0).prior_std) == pytest.approx(10.0)
    assert make("rectified_flow").name == "RectifiedFlow"


def test_discrete_ddpm_integer_time_is_not_truncated():
    """Integer t must be promoted to float before interpolating the t-grid."""
    p = DiscreteDDPM.linear()
    np.testing.assert_allclose(float(p.alpha(1)), float(p.alpha(1.0)), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(p.alpha(jnp.asarray([0, 1]))),
                               np.asarray(p.alpha(jnp.asarray([0.0, 1.0]))), rtol=1e-6)


# ---- treedefs stay distinct (jax 0.10 dataclass-node equality ignores the class) -------

def test_process_treedefs_are_pairwise_distinct():
    """SubVP and VPLinear have the same fields; jax 0.10 treats dataclass treedefs with
    equal field names and static values as equal whatever their class, so a jit cache
    hit could run one's executable for the other. The static ``process_class`` field
    keeps them apart."""
    from process_cases import ALL

    procs = {name: make(name) for name in ALL}
    assert jax.tree.structure(SubVP()) != jax.tree.structure(VPLinear())
    for a in ALL:
        for b in ALL:
            if type(procs[a]) is not type(procs[b]):
                assert jax.tree.structure(procs[a]) != jax.tree.structure(procs[b]), (a, b)
    # the field survives flatten/unflatten and replace, and is not positional
    p = VPLinear(0.2, 10.0)
    assert p.process_class == "VPLinear" and p.beta_max == 10.0
    q = jax.tree.unflatten(jax.tree.structure(p), jax.tree.leaves(p))
    assert q.process_class == "VPLinear" and q == p
    assert dataclasses.replace(p, beta_min=0.3).process_class == "VPLinear"


@pytest.mark.parametrize("n", [10, 1000])
def test_ddpm_uniform_segment_index_equals_search(n, x64):
    """DiscreteDDPM finds its segment in O(1) from floor(N t); at and next to every knot
    (where rounding could misplace it) it must agree with a binary search."""
    from diffax.processes.vp import _segment_index_uniform

    for dtype in (jnp.float32, jnp.float64):
        xp = jnp.arange(1, n + 1, dtype=dtype) / n
        x = jnp.concatenate([xp, jnp.nextafter(xp, 2.0), jnp.nextafter(xp, -2.0),
                             jnp.linspace(-0.3, 1.3, 4001, dtype=dtype)])
        want = jnp.clip(jnp.searchsorted(xp, x, side="right") - 1, 0, n - 2)
        np.testing.assert_array_equal(_segment_index_uniform(x, xp), want)
