"""Likelihoods: PF-ODE log-likelihood (exact or Hutchinson divergence), the variational
bound (continuous VDM and discrete DDPM), the Itô density estimator along reverse-SDE
samples, and dequantized bits/dim. See docs/likelihood.md."""

from diffax.likelihood.bits_per_dim import bits_per_dim, dequantize, image_bits_per_dim
from diffax.likelihood.elbo import ELBOResult, continuous_elbo, ddpm_grid, discrete_elbo
from diffax.likelihood.ito import (ItoDensityOutput, euler_maruyama_step, ito_log_density,
                                   ito_log_density_increment)
from diffax.likelihood.pf_ode import LikelihoodResult, pf_ode_log_likelihood

__all__ = ["ELBOResult", "ItoDensityOutput", "LikelihoodResult", "bits_per_dim",
           "continuous_elbo", "ddpm_grid", "dequantize", "discrete_elbo",
           "euler_maruyama_step", "image_bits_per_dim", "ito_log_density",
           "ito_log_density_increment", "pf_ode_log_likelihood"]
