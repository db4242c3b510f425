"""Inverse problems: forward operators, posterior samplers that use an unconditional
diffusion prior, and likelihood-gradient guidance for any sampler.

* Solvers (``SOLVERS``, a :class:`diffax.registry.Registry`; :func:`get_solver`):
  replacement / RePaint, DPS, PiGDM, RED-diff and steered diffusion, all with the
  signature ``solver(model_fn, process, x_init, timesteps, *, operator, y, key,
  noise_std, prediction, return_trajectory, **options) -> SampleOutput``.
  :func:`initial_state` and :func:`solver_options` apply what each solver declares
  (its start, whether it models the measurement noise), so callers treat all alike.
* Guidance (``model_fn`` wrappers for every sampler of :mod:`diffax.samplers`):
  :func:`pigdm_guidance`, :func:`dps_guidance`, :func:`steered_guidance`, and the
  generic :func:`loss_guidance` on a loss of the denoised estimate.
* 3-D CT with a 2-D prior: :func:`diffusion_mbir` (DiffusionMBIR: per-slice diffusion
  steps + ADMM/CG data consistency with TV along z), and the baselines :func:`fbp` and
  :func:`admm_tv` (docs/mbir.md).

See docs/inverse.md."""

from diffax.inverse.dps import dps, dps_guidance
from diffax.inverse.guidance import loss_guidance, squared_residual
from diffax.inverse.mbir import diffusion_mbir
from diffax.inverse.mbir_admm import admm_tv
from diffax.inverse.mbir_fbp import fbp
from diffax.inverse.operators import (Blur, Downsample, LinearOperator, Mask, Nonlinear,
                                      Radon, RandomProjection, dense_matrix, gaussian_kernel)
from diffax.inverse.pigdm import pigdm, pigdm_guidance
from diffax.inverse.red_diff import red_diff
from diffax.inverse.registry import SOLVERS, get_solver, initial_state, solver_options
from diffax.inverse.replacement import repaint, replacement
from diffax.inverse.steered import steered, steered_guidance

__all__ = ["admm_tv", "diffusion_mbir", "fbp", "Blur", "Downsample", "LinearOperator", "Mask", "Nonlinear", "Radon",
           "RandomProjection", "SOLVERS", "dense_matrix", "dps", "dps_guidance",
           "gaussian_kernel", "get_solver", "initial_state", "loss_guidance", "pigdm",
           "pigdm_guidance", "red_diff", "repaint", "replacement", "solver_options",
           "squared_residual", "steered", "steered_guidance"]
