"""Likelihoods: PF-ODE log-likelihood (exact or Hutchinson divergence) and dequantized
bits/dim. See docs/likelihood.md."""

from diffax.likelihood.bits_per_dim import bits_per_dim, dequantize, image_bits_per_dim
from diffax.likelihood.pf_ode import LikelihoodResult, pf_ode_log_likelihood

__all__ = ["LikelihoodResult", "bits_per_dim", "dequantize", "image_bits_per_dim",
           "pf_ode_log_likelihood"]
