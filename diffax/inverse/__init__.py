"""Inverse problems: forward operators and posterior samplers that use an unconditional
diffusion prior: replacement / RePaint, DPS, PiGDM (also a ``model_fn`` guidance usable by
every sampler), RED-diff and steered diffusion. ``SOLVERS`` maps names to solvers, all
with the signature ``solver(model_fn, process, x_init, timesteps, *, operator, y, key,
noise_std, prediction, **options) -> SampleOutput``. See docs/inverse.md."""

from diffax.inverse.dps import dps
from diffax.inverse.operators import (Blur, Downsample, LinearOperator, Mask, Nonlinear,
                                      Radon, RandomProjection, dense_matrix, gaussian_kernel)
from diffax.inverse.pigdm import pigdm, pigdm_guidance
from diffax.inverse.red_diff import red_diff
from diffax.inverse.replacement import repaint, replacement
from diffax.inverse.steered import steered

SOLVERS = {"replacement": replacement, "repaint": repaint, "dps": dps, "pigdm": pigdm,
           "red_diff": red_diff, "steered": steered}


def get_solver(name: str):
    """The inverse-problem solver called ``name``."""
    if name not in SOLVERS:
        raise ValueError(f"unknown inverse solver {name!r}; valid choices: {sorted(SOLVERS)}.")
    return SOLVERS[name]


__all__ = ["Blur", "Downsample", "LinearOperator", "Mask", "Nonlinear", "Radon",
           "RandomProjection", "SOLVERS", "dense_matrix", "dps", "gaussian_kernel",
           "get_solver", "pigdm", "pigdm_guidance", "red_diff", "repaint", "replacement",
           "steered"]
