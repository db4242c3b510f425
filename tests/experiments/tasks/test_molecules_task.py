"""The molecules task: zero-centre-of-mass diffusion without a core change (the CoM part
of the loss is parameter-free; projecting the final sample equals projecting the prior
and every step's noise), atom counts from the data histogram, model space round trip."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from diffax.losses.denoising import dsm_objective
from diffax.nn import EGNN
from diffax.nn.egnn import zero_center_of_mass
from diffax.processes import get_process
from diffax.samplers import get_sampler, schedules
from experiments import runner
from experiments.tasks import get_task

PROCESS = get_process("vp_cosine")


def _setup():
    config = runner.load_config("configs/molecules/g2.py")
    task = get_task("molecules", config) if _takes_config() else get_task("molecules")
    ds = task.dataset(config, "train")
    batch = task.to_model(ds.get(np.arange(8)))
    spec = task.spec(config, ds, batch)
    return config, task, ds, spec, batch


def _takes_config():
    import inspect
    return len(inspect.signature(get_task).parameters) > 1


def _net(seed, scale=0.1):
    net = EGNN(14, hidden=16, num_layers=2, rngs=nnx.Rngs(seed))
    # random output layers (they start at zero)
    state = nnx.state(net, nnx.Param)
    leaves, tree = jax.tree.flatten(state)
    rng = np.random.default_rng(seed)
    nnx.update(net, jax.tree.unflatten(tree, [a + scale * rng.standard_normal(a.shape)
                                               for a in leaves]))
    return nnx.split(net, nnx.Param)


def _project(v, mask):
    """P on the position channels (the subspace map), identity on the type channels."""
    return jnp.concatenate([zero_center_of_mass(v[..., :3], mask), v[..., 3:]], -1)


def test_com_part_of_the_loss_does_not_depend_on_parameters():
    _, _, _, _, batch = _setup()
    x0, mask = jnp.asarray(batch["x"]), jnp.asarray(batch["node_mask"])
    np.testing.assert_allclose(np.asarray(zero_center_of_mass(x0[..., :3], mask)),
                               np.asarray(x0[..., :3]), atol=1e-6)  # data already zero-CoM
    key_t, key_e = jax.random.split(jax.random.PRNGKey(0))
    t = jax.random.uniform(key_t, (8,), minval=0.05, maxval=0.95)
    eps = jax.random.normal(key_e, x0.shape)
    cond = {"node_mask": mask, "loss_mask": mask[..., None]}

    def loss(params, graphdef, noise):
        net = nnx.merge(graphdef, params)
        return dsm_objective(lambda x, s, **c: net(x, s, **c), PROCESS, "eps", x0, cond,
                             t, noise, jnp.ones(8))[0]

    gaps, grads = [], []
    value_and_grad = jax.jit(jax.value_and_grad(loss), static_argnums=1)
    for seed in (1, 2):
        graphdef, params = _net(seed)
        full, g_full = value_and_grad(params, graphdef, eps)
        proj, g_proj = value_and_grad(params, graphdef, _project(eps, mask))
        gaps.append(float(full - proj))
        grads.append((g_full, g_proj))
    # the gap is ||(I - P) eps||^2 over real position entries / number of real entries
    com = np.asarray(eps[..., :3] * mask[..., None]) - np.asarray(
        zero_center_of_mass(eps[..., :3], mask))
    expected = float((com ** 2).sum() / (mask.sum() * x0.shape[-1]))
    assert gaps[0] == pytest.approx(expected, rel=1e-4)
    assert gaps[1] == pytest.approx(expected, rel=1e-4)  # the same for other parameters
    for g_full, g_proj in grads:  # identical gradients (float32 round-off only)
        for a, b in zip(jax.tree.leaves(g_full), jax.tree.leaves(g_proj)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-3, atol=2e-6)


def test_projecting_the_final_sample_equals_projected_prior_and_noise():
    _, _, _, _, batch = _setup()
    mask = jnp.asarray(batch["node_mask"])
    graphdef, params = _net(3)
    net = nnx.merge(graphdef, params)
    model = lambda x, s, **c: net(x, s, **c)  # noqa: E731  (an eps model)
    x_init = jax.random.normal(jax.random.PRNGKey(1), batch["x"].shape)
    ts = schedules.get_schedule("uniform_time", PROCESS, 8)
    # 1. the library's stochastic sampler: the prior's CoM part changes nothing after P
    solve = get_sampler("ancestral")
    shift = jnp.asarray(np.random.default_rng(0).normal(size=(8, 1, 3)) * 3.0)
    moved = x_init.at[..., :3].add(shift)
    a = solve(model, PROCESS, x_init, ts, prediction="eps", cond={"node_mask": mask},
              key=jax.random.PRNGKey(2)).x
    b = solve(model, PROCESS, moved, ts, prediction="eps", cond={"node_mask": mask},
              key=jax.random.PRNGKey(2)).x
    pa, pb = (np.asarray(_project(v, mask)[..., :3]) for v in (a, b))
    assert np.max(np.abs(pa - pb)) < 1e-4 * np.max(np.abs(pa))
    # 2. a stochastic step written out: full-space noise then P at the end equals EDM's
    #    subspace sampler (projected prior and projected noise at every step)
    times = np.linspace(0.9, 0.05, 10)
    zs = jax.random.normal(jax.random.PRNGKey(4), (len(times) - 1, *x_init.shape))
    eps_fn = jax.jit(lambda x, t: net(x, t, node_mask=mask))

    def run(x, project_noise):
        for k in range(len(times) - 1):
            t, s = times[k], times[k + 1]
            a_t, s_t = PROCESS.alpha(t), PROCESS.sigma(t)
            a_s, s_s = PROCESS.alpha(s), PROCESS.sigma(s)
            eps = eps_fn(x, jnp.full((8,), t))
            z = _project(zs[k], mask) if project_noise else zs[k]
            x = a_s * (x - s_t * eps) / a_t + s_s * (0.8 * eps + 0.6 * z)
        return x

    full = _project(run(x_init, False), mask)
    edm = run(_project(x_init, mask), True)
    real = np.asarray(mask)[..., None]
    full, edm = np.asarray(full) * real, np.asarray(edm) * real
    assert np.max(np.abs(full - edm)) < 1e-4 * np.max(np.abs(edm))  # float32 round-off


def test_task_data_space_counts_and_transform():
    config, task, ds, spec, batch = _setup()
    assert spec.condition == ("node_mask",) and spec.data_shape == (14, 17)
    raw = ds.get(np.arange(8))["x"]
    np.testing.assert_allclose(batch["x"][..., 3:], 0.25 * raw[..., 3:])  # EDM's 1/4
    np.testing.assert_allclose(np.asarray(task.from_model(jnp.asarray(batch["x"]))), raw,
                               atol=1e-7)
    out = task.batch_transform(config, spec, train=True)(
        {k: jnp.asarray(v) for k, v in batch.items()}, jax.random.PRNGKey(0))
    np.testing.assert_array_equal(np.asarray(out["loss_mask"])[..., 0], batch["node_mask"])
    counts = task.atom_counts(20000)
    hist = ds.atom_count_histogram() / ds.num_examples
    freq = np.bincount(counts, minlength=len(hist)) / 20000
    assert np.max(np.abs(freq - hist)) < 0.015  # 4 binomial std at p ~ 0.14
    assert freq[0] == 0  # no empty molecule (none in the data)
    cond = task.sample_condition(spec, 40)["node_mask"]
    np.testing.assert_array_equal(cond.sum(1), counts[:40])  # a prefix keeps its counts
    np.testing.assert_array_equal(task.sample_condition(spec, 5)["node_mask"], cond[:5])
    m = task.extra_metrics(np.asarray(raw), {"node_mask": batch["node_mask"]}, ds)
    direct = np.asarray(ds.get(np.arange(8))["x"])
    assert m["mol_num_molecules"] == 8 and 0 < m["mol_atom_stability"] <= 1
    assert direct.shape == raw.shape


# ---- the config's setting: Karras et al. (2022) preconditioning on the "edm" process ----

def _edm_objective():
    from diffax import objectives
    config = runner.load_config("configs/molecules/g2.py")
    assert (config.process.name, config.model.parameterization) == ("edm", "edm")
    process = get_process(config.process.name)
    objective = objectives.get_objective(
        "denoising", process, loss=config.loss.name, loss_kwargs=dict(config.loss.kwargs),
        parameterization="edm", time_input=config.model.time_input,
        sigma_data=config.model.sigma_data)
    return config, process, objective


def test_edm_preconditioning_com_part_is_parameter_free():
    """D = c_skip x + c_out F(c_in x): F sees P x only and its position output is in the
    subspace, so (I - P)(D - x0) = c_skip sigma (I - P) eps does not depend on the
    parameters: the full-noise and projected-noise EDM losses differ by a constant and
    have the same gradients."""
    _, _, _, _, batch = _setup()
    _, process, objective = _edm_objective()
    x0, mask = jnp.asarray(batch["x"]), jnp.asarray(batch["node_mask"])
    sigma = jnp.exp(jax.random.normal(jax.random.PRNGKey(5), (8,)) * 1.2 - 1.2)
    eps = jax.random.normal(jax.random.PRNGKey(6), x0.shape)
    cond = {"node_mask": mask, "loss_mask": mask[..., None]}
    weight = (sigma ** 2 + 0.25) / (0.5 * sigma) ** 2  # EDM's lambda; any fixed weight

    def loss(params, graphdef, noise):
        model = objective.model_fn(lambda x, c, **k: nnx.merge(graphdef, params)(x, c, **k))
        return dsm_objective(model, process, "x0", x0, cond, sigma, noise, weight)[0]

    value_and_grad = jax.jit(jax.value_and_grad(loss), static_argnums=1)
    gaps = []
    for seed in (1, 2):
        graphdef, params = _net(seed)
        full, g_full = value_and_grad(params, graphdef, eps)
        proj, g_proj = value_and_grad(params, graphdef, _project(eps, mask))
        gaps.append(float(full - proj))
        for a, b in zip(jax.tree.leaves(g_full), jax.tree.leaves(g_proj)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-3, atol=2e-5)
    assert gaps[0] > 0 and gaps[1] == pytest.approx(gaps[0], rel=1e-4)


@pytest.mark.parametrize("sampler", ["ancestral", "edm_heun"])
def test_edm_sampling_ignores_the_prior_centre_of_mass(sampler):
    """Every step of these samplers is affine in (state, D, noise) with state-independent
    coefficients and P D(x) depends on P x only: shifting the prior's centre of mass
    leaves the projected sample unchanged (float32 round-off)."""
    _, _, _, _, batch = _setup()
    config, process, objective = _edm_objective()
    mask = jnp.asarray(batch["node_mask"])
    # small random output layers: a tame denoiser (O(1) samples, as a trained one gives);
    # larger ones make a chaotic map that amplifies float32 round-off without bound
    graphdef, params = _net(3, scale=0.02)
    net = nnx.merge(graphdef, params)
    model = objective.model_fn(lambda x, c, **k: net(x, c, **k))
    ts = schedules.get_schedule(config.sampling.schedule, process, 6)
    x_init = process.prior_sample(jax.random.PRNGKey(1), batch["x"].shape)
    shift = jnp.asarray(np.random.default_rng(0).normal(size=(8, 1, 3)) * 40.0)
    solve = get_sampler(sampler)
    kw = {"key": jax.random.PRNGKey(2)} if sampler == "ancestral" else {}
    a, b = (solve(model, process, x, ts, prediction=objective.kind,
                  cond={"node_mask": mask}, **kw).x
            for x in (x_init, x_init.at[..., :3].add(shift)))
    pa, pb = (np.asarray(_project(v, mask)) * np.asarray(mask)[..., None] for v in (a, b))
    assert 0.1 < np.max(np.abs(pa)) < 10.0  # a non-trivial, O(1) sample
    # round-off of states of size sigma_max + |shift| ~ 120 (measured max 2.5e-6)
    assert np.max(np.abs(pa - pb)) < 2e-5
