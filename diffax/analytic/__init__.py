"""Exact oracles: quantities that are known in closed form and serve as ground truth.

* :class:`GaussianMixture`: marginals, scores, denoisers, every prediction kind,
  exact samples and linear-Gaussian posteriors of a Gaussian-mixture data
  distribution under any Gaussian forward process.
* :func:`gaussian_pf_ode_solution` / :func:`gaussian_pf_ode_trajectory`: the
  closed-form probability-flow ODE flow map for Gaussian data.
"""

from diffax.analytic.gaussian_mixture import GaussianMixture
from diffax.analytic.gaussian_pf_ode import (
    gaussian_pf_ode_solution,
    gaussian_pf_ode_trajectory,
)

__all__ = ["GaussianMixture", "gaussian_pf_ode_solution", "gaussian_pf_ode_trajectory"]
