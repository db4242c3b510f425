"""Every term of the ELBO in closed form, for a model whose noise prediction error does not
depend on the noise draw: the exact denoiser of a point mass at c,
eps_hat(z, t) = (z - alpha_t c) / sigma_t, evaluated at data x != c. Then
eps - eps_hat(alpha_t x + sigma_t eps) = -(alpha_t / sigma_t)(x - c), so
||eps - eps_hat||^2 = e^{lambda_t} ||x - c||^2 for every draw and

* decoder (VDM): E log p(x | z_0) = log N(x; c, sigma_0^2 / alpha_0^2 I)
  = -d/2 (log 2 pi - lambda_0) - 1/2 e^{lambda_0} ||x - c||^2;
* discrete diffusion loss: sum_i 1/2 (e^{lambda_{i-1} - lambda_i} - 1) e^{lambda_i}
  ||x - c||^2 = 1/2 (e^{lambda_0} - e^{lambda_N}) ||x - c||^2 (telescoping);
* continuous: 1/2 int_{lambda_N}^{lambda_0} e^lambda ||x - c||^2 d lambda, the same number;
* prior: KL(N(alpha_N x, sigma_N^2 I) || N(0, p^2 I)), p = sigma(t_max of the process)
  (= alpha_N^2 ||x||^2 / (2 sigma_N^2) when the grid ends there).

A nudged decoder variance, KL coefficient or log-SNR factor changes one of these.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from diffax.likelihood import continuous_elbo, discrete_elbo
from diffax.processes import get_process
from diffax.processes.base import broadcast_to_x


def _point_mass_eps(process, c):
    def model(z, t, **kw):
        return ((z - broadcast_to_x(process.alpha(t), z) * c)
                / broadcast_to_x(process.sigma(t), z))
    return model


# The continuous estimate uses one uniform offset per example for all strata (systematic
# sampling): for a monotone integrand it lies between the left and right Riemann sums,
# whose gap relative to int e^lambda is (range / n_time) = 4 / 2048.
N_TIME = 2048
CONTINUOUS_RTOL = 4.0 / N_TIME


@pytest.mark.parametrize("name", ["vp_linear", "edm", "ve"])
def test_elbo_terms_in_closed_form(x64, name):
    process = get_process(name)
    c = jnp.asarray([[0.3, -0.1, 0.2]])
    x = jnp.asarray([[0.5, 0.4, -0.3], [-0.2, 0.1, 0.0]])
    d, r2 = 3, np.sum((np.asarray(x) - np.asarray(c)) ** 2, axis=1)
    model = _point_mass_eps(process, c)
    ts = np.linspace(process.t_min, process.t_max, 9)
    lam = np.asarray(process.log_snr(jnp.asarray(ts)))
    a_n, s_n = float(process.alpha(ts[-1])), float(process.sigma(ts[-1]))
    decoder = -0.5 * d * (np.log(2 * np.pi) - lam[0]) - 0.5 * np.exp(lam[0]) * r2
    diffusion = 0.5 * (np.exp(lam[0]) - np.exp(lam[-1])) * r2
    prior = a_n**2 * np.sum(np.asarray(x) ** 2, axis=1) / (2 * s_n**2)

    disc = discrete_elbo(model, process, x, jax.random.PRNGKey(0), timesteps=ts)
    np.testing.assert_allclose(disc.reconstruction, decoder, rtol=1e-9)
    np.testing.assert_allclose(disc.diffusion_loss, diffusion, rtol=1e-9)
    np.testing.assert_allclose(disc.prior_kl, prior, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(disc.elbo, decoder - prior - diffusion, rtol=1e-9)

    # continuous time: stratified Monte Carlo in log-SNR of e^lambda on lambda in [-2, 2]
    t_lo, t_hi = (float(process.t_from_log_snr(jnp.asarray(v))) for v in (2.0, -2.0))
    cont = continuous_elbo(model, process, x, jax.random.PRNGKey(1), n_time=N_TIME,
                           t_min=t_lo, t_max=t_hi)
    a_n, s_n = float(process.alpha(t_hi)), float(process.sigma(t_hi))
    np.testing.assert_allclose(
        cont.reconstruction, -0.5 * d * (np.log(2 * np.pi) - 2.0) - 0.5 * np.exp(2.0) * r2,
        rtol=1e-9)
    np.testing.assert_allclose(cont.diffusion_loss, 0.5 * (np.exp(2.0) - np.exp(-2.0)) * r2,
                               rtol=CONTINUOUS_RTOL)
    p2, q = float(process.prior_std) ** 2, s_n**2 / float(process.prior_std) ** 2
    np.testing.assert_allclose(  # KL(N(a x, s^2 I) || N(0, p^2 I)), p = sigma(process t_max)
        cont.prior_kl,
        0.5 * (d * (q - 1 - np.log(q)) + a_n**2 * np.sum(np.asarray(x) ** 2, axis=1) / p2),
        rtol=1e-9)
