"""Molecule log-likelihood on EDM's zero-centre-of-mass subspace
(experiments/tasks/molecules_likelihood.py and MoleculeTask.heldout_likelihood) against
exact Gaussian densities on the subspace; the charge channel of the task."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.likelihood import pf_ode_log_likelihood
from diffax.processes import get_process
from experiments import runner
from experiments.tasks import get_task
from experiments.tasks.molecules_likelihood import (project_subspace, subspace_dims,
                                                    subspace_log_likelihood)
from molecule_oracles import D, F, exact_eps_model, exact_log_density, gaussian_problem


def test_subspace_dimensions_and_projection(x64):
    _, _, _, x0, mask, dims = gaussian_problem()
    assert np.asarray(subspace_dims(jnp.asarray(mask), F)).tolist() == dims == [2, 7, 12, 17]
    # a 1-atom molecule: no position dimensions, its features only
    p = np.asarray(project_subspace(jnp.asarray(x0), jnp.asarray(mask)))
    np.testing.assert_allclose(p, x0, atol=1e-12)  # the data lie in the subspace
    assert np.all(p[0, 0, :3] == 0) and np.all(p[:, :, :][mask == 0] == 0)


def test_exact_divergence_matches_the_closed_form_subspace_density(x64):
    """Exact divergence, rtol = atol = 1e-9. The PF-ODE maps x0 to z at t_max, and
    log p_{t_min}(x0) = log p_{t_max}(z) + int div: with the exact marginal density at
    t_max in place of the prior, the estimate equals the closed form to 1e-6 nats
    (measured: below 1e-8); the prior term itself is log N_S(z; 0, sigma_max^2 I) with d_S
    dimensions. The full-space estimate (N x 3 position dims, padding counted) is off by
    more than 5 nats for every molecule: the test tells the dimensions apart."""
    process = get_process("vp_polynomial")
    Q, C, mu, x0, mask, dims = gaussian_problem()
    model = exact_eps_model(process, Q, C, mu)
    want = exact_log_density(process, Q, C, mu, x0, dims, process.t_min)
    got = subspace_log_likelihood(model, process, "eps", jnp.asarray(x0), jnp.asarray(mask),
                                  divergence="exact", rtol=1e-9, atol=1e-9)
    z = np.asarray(got.z)
    assert np.abs(project_subspace(jnp.asarray(z), jnp.asarray(mask)) - z).max() < 1e-12
    at_t_max = exact_log_density(process, Q, C, mu, z, dims, process.t_max)
    print(np.asarray(got.delta_log_prob) + at_t_max - want)
    np.testing.assert_allclose(np.asarray(got.delta_log_prob) + at_t_max, want, rtol=0,
                               atol=1e-6)
    s2 = float(process.prior_std) ** 2
    prior = [-0.5 * (zb**2).sum() / s2 - 0.5 * d * math.log(2 * math.pi * s2)
             for zb, d in zip(z, dims)]
    np.testing.assert_allclose(np.asarray(got.prior_log_prob), prior, rtol=1e-12)
    naive = pf_ode_log_likelihood(model, process, jnp.asarray(x0), prediction="eps",
                                  cond={"node_mask": jnp.asarray(mask)}, rtol=1e-9,
                                  atol=1e-9)
    assert np.all(np.abs(np.asarray(naive.log_prob) - want) > 5)


def test_hutchinson_estimate_is_unbiased_on_the_subspace(x64):
    """The four molecules repeated 8 times (independent Rademacher probes per row, 16
    per row): the mean error over the copies is within 4 standard errors of their own
    spread; the divergence part is compared (exact t_max marginal, as above)."""
    process = get_process("vp_polynomial")
    Q, C, mu, x0, mask, dims = gaussian_problem()
    reps = 8
    rep = lambda a: np.concatenate([a] * reps)  # noqa: E731
    model = exact_eps_model(process, rep(Q), rep(C), rep(mu))
    want = exact_log_density(process, Q, C, mu, x0, dims, process.t_min)
    r = subspace_log_likelihood(model, process, "eps", jnp.asarray(rep(x0)),
                                jnp.asarray(rep(mask)), divergence="hutchinson",
                                key=jax.random.PRNGKey(0), n_probes=16, rtol=1e-6, atol=1e-6)
    at_t_max = exact_log_density(process, rep(Q), rep(C), rep(mu), np.asarray(r.z),
                                 dims * reps, process.t_max)
    est = (np.asarray(r.delta_log_prob) + at_t_max).reshape(reps, -1)
    spread = est.std(0, ddof=1)
    print("hutchinson error", est.mean(0) - want, "spread", spread)
    assert np.all(np.abs(est.mean(0) - want) < 4 * spread / np.sqrt(reps) + 1e-4)
    assert np.all(spread > 0) and spread[0] < spread[-1]  # fewer dimensions, less noise


@pytest.mark.slow
def test_subspace_elbo_is_the_vdm_bound_of_the_subspace_model(x64):
    """With the exact eps of Gaussian data the continuous bound is tight up to the
    decoder (VDM): the mean over 16 copies (64 stratified times each) is within 4
    standard errors (+1e-3 for the decoder gap) of log N_S(x0; Q mu, Q C Q^T); measured
    errors 0.2-0.5 nats, standard errors 0.5-1.3. Without the reconstruction fix for the
    D - d_S coordinates outside S the value is off by (D - d_S)/2 (lambda_0 - log 2 pi),
    tens of nats."""
    from diffax.likelihood import continuous_elbo
    from experiments.tasks.molecules_likelihood import subspace_elbo

    process = get_process("vp_polynomial")
    Q, C, mu, x0, mask, dims = gaussian_problem()
    model = exact_eps_model(process, Q, C, mu)
    want = []
    for b, d in enumerate(dims):  # log N_d(Q^T x0; mu, C): the data density on S
        y = Q[b, :, :d].T @ x0[b].ravel() - mu[b, :d]
        want.append(-0.5 * y @ np.linalg.solve(C[b, :d, :d], y)
                    - 0.5 * np.linalg.slogdet(C[b, :d, :d])[1] - 0.5 * d * math.log(2 * math.pi))
    want = np.array(want)
    reps = 16  # independent copies in one batch (own time offsets and noise per row)
    rep = lambda a: np.concatenate([a] * reps)  # noqa: E731
    est = np.asarray(subspace_elbo(exact_eps_model(process, rep(Q), rep(C), rep(mu)),
                                   process, "eps", jnp.asarray(rep(x0)),
                                   jnp.asarray(rep(mask)), jax.random.PRNGKey(0),
                                   n_time=64).elbo).reshape(reps, -1)
    sem = est.std(0, ddof=1) / np.sqrt(reps)
    print("elbo error", est.mean(0) - want, "sem", sem)
    assert np.all(np.abs(est.mean(0) - want) < 4 * sem + 1e-3)
    lam0 = float(process.log_snr(process.t_min))
    full = np.asarray(continuous_elbo(model, process, jnp.asarray(x0), jax.random.PRNGKey(0),
                                      n_time=32).elbo)
    assert np.all(np.abs(full - want) > 10)
    outside = D - np.array(dims)
    assert np.all(0.5 * outside * (lam0 - math.log(2 * math.pi)) > 10)


def _task(include_charges=True):
    config = runner.load_config("configs/molecules/g2.py")
    config.data.include_charges = include_charges
    task = get_task("molecules", config)
    ds = task.dataset(config, "test")
    return config, task, ds


def test_heldout_likelihood_on_molecules_with_an_isotropic_oracle(x64):
    """Data N(0, I) on each molecule's subspace in model space: the task's value (mask
    read off the one-hot channels, charges scaled by 1/10) equals the closed form
    log N_S(y; 0, (alpha^2 + sigma^2) I) at t_min, and the data-space value adds
    F n log 4 + n log 10 per molecule."""
    config, task, ds = _task()
    process = get_process("vp_linear")
    idx = np.argsort(ds.num_atoms, kind="stable")[:4]  # the 4 smallest (exact div. is cheap)
    rows = int(ds.num_atoms[idx].max())  # padding beyond the largest of them: not needed
    x = ds.x[idx, :rows].astype(np.float64)
    mask = ds.node_mask[idx, :rows]

    def model(y, t, node_mask):
        a, s = process.alpha(t), process.sigma(t)
        return project_subspace(y, node_mask) * (s / (a**2 + s**2))[:, None, None]

    res = task.heldout_likelihood(model, process, "eps", x, None, jax.random.PRNGKey(0),
                                  divergence="exact", rtol=1e-8, batch_size=3)
    y = x * task.channel_scales(x.shape[-1])
    direct = np.asarray(subspace_log_likelihood(
        model, process, "eps", jnp.asarray(y), jnp.asarray(mask), divergence="exact",
        rtol=1e-8, atol=1e-8).log_prob)
    a, s = float(process.alpha(process.t_min)), float(process.sigma(process.t_min))
    var = a**2 + s**2
    n = mask.sum(1)
    d = 3 * (n - 1) + (x.shape[-1] - 3) * n
    want = -0.5 * (y**2).reshape(4, -1).sum(1) / var - 0.5 * d * np.log(2 * np.pi * var)
    assert res["num_examples"] == 4 and res["divergence"] == "exact"
    # batches of 3 (the last one padded) give the direct values
    assert res["nll_nats"] == pytest.approx(-direct.mean(), abs=1e-7)
    # the closed form, up to the prior N(0, sigma_max^2) standing in for the t_max
    # marginal N(0, 1) (alpha_max^2 = 4e-5): measured 1.2e-3 nats
    assert res["nll_nats"] == pytest.approx(-want.mean(), abs=5e-3)
    assert res["nll_nats_per_dim"] == pytest.approx(-direct.sum() / d.sum(), abs=1e-8)
    f_onehot = x.shape[-1] - 4
    jac = n * (f_onehot * np.log(4) + np.log(10))
    # (float32 model-space values in the task: 1e-5)
    assert res["nll_nats_data_space"] == pytest.approx((-direct + jac).mean(), abs=1e-5)
    # the bound is above the NLL (here within Monte Carlo noise of it: exact model)
    assert res["nelbo_nats"] == pytest.approx(res["nll_nats"], abs=3.0)
    assert res["nelbo_nats_data_space"] - res["nelbo_nats"] == pytest.approx(jac.mean(),
                                                                              rel=1e-6)
    # EDM's discrete decoder reads the types and charges off z_0 with certainty (log p(h |
    # z_0) = 0), while the Gaussian decoder of this eps model (eps_hat ~ 0 at t_min) gives
    # each feature dimension (lambda_0 - log 2 pi - 1) / 2 in expectation; the KL and
    # diffusion terms are shared. Tolerance: 4 sd of the 16-draw decoder means
    # (||eps||^2 / 2 has variance d / 2 per draw), features and positions.
    lam0 = float(process.log_snr(process.t_min))
    d_feat = (x.shape[-1] - 3) * n
    gap = 0.5 * d_feat * (lam0 - np.log(2 * np.pi) - 1)
    sd = float(np.sqrt((d_feat + 3 * (n - 1)).sum() / 2 / 16) / len(n))
    print("discrete gap", res["nelbo_nats_discrete_features"] - res["nelbo_nats"], gap.mean(),
          "sd", sd)
    assert res["nelbo_nats_discrete_features"] - res["nelbo_nats"] == pytest.approx(
        gap.mean(), abs=4 * sd)


def test_charge_channel_in_data_model_space_and_decoding():
    config, task, ds = _task(True)
    raw = ds.get(np.arange(6))
    x, mask = raw["x"], raw["node_mask"]
    assert x.shape[-1] == 3 + len(ds.elements) + 1
    z = np.array([[{"H": 1, "C": 6, "N": 7, "O": 8}.get(ds.elements[t], -1) if t >= 0 else 0
                   for t in row] for row in ds.types[:6]])
    known = z >= 0
    np.testing.assert_array_equal(x[..., -1][known], z[known])  # atomic numbers, 0 padding
    y = task.to_model(raw)["x"]
    np.testing.assert_allclose(y[..., -1], 0.1 * x[..., -1], rtol=1e-7)   # EDM's 1/10
    np.testing.assert_allclose(y[..., 3:-1], 0.25 * x[..., 3:-1])           # EDM's 1/4
    np.testing.assert_allclose(np.asarray(task.from_model(jnp.asarray(y))), x, rtol=1e-6)
    # decoding: argmax of the one-hot channels only; the charge rounded and checked
    _, types = task.decode(x, mask)
    np.testing.assert_array_equal(types[mask > 0], ds.types[:6][mask > 0])
    noisy = x + 0.3 * np.random.default_rng(0).uniform(-1, 1, x.shape)
    m = task.extra_metrics(noisy, {"node_mask": mask}, ds)
    assert m["mol_charge_consistency"] == 1.0  # |noise| < 0.5 rounds back
    wrong = x.copy()
    wrong[..., -1] += 1.0
    assert task.extra_metrics(wrong, {"node_mask": mask}, ds)["mol_charge_consistency"] == 0
    # without charges: the old layout
    config0, task0, ds0 = _task(False)
    assert ds0.get(np.arange(2))["x"].shape[-1] == 3 + len(ds0.elements)
    assert "mol_charge_consistency" not in task0.extra_metrics(
        ds0.get(np.arange(6))["x"], {"node_mask": mask}, ds0)
    config.data.kwargs = {"include_charges": True}
    with pytest.raises(ValueError, match="data.include_charges"):
        task.dataset(config, "test")
    from diffax.data.molecules import load_molecules
    with pytest.raises(ValueError, match="include_charges='yes'"):
        load_molecules("g2", "test", include_charges="yes")

