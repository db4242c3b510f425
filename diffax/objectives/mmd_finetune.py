"""MMD fine-tuning of a few-step sampler (MMD-DDM; Aiello, Valsesia & Magli, 2023, "Fast
Inference in Denoising Diffusion Models via MMD Finetuning").

A diffusion model used with a fixed few-step deterministic sampler S (DDIM with k steps,
DPM-Solver++, ...) is a generator x = S_theta(z) of its prior noise z. MMD-DDM fine-tunes
theta so that the generator's samples match the data in maximum mean discrepancy,
back-propagating through the whole sampling chain:

    L(theta) = MMD_u^2({S_theta(z_i)}, {x_i}),   z_i ~ prior,  x_i ~ data (the batch),

    MMD_u^2 = sum_{i != j} k(a_i, a_j) / (n(n-1)) + sum_{i != j} k(b_i, b_j) / (n(n-1))
              - 2 mean_{i,j} k(a_i, b_j),   k(a, b) = sum_h exp(-|f(a) - f(b)|^2 / (2 h^2)),

with f a fixed feature map (the identity by default; the paper uses Inception features of
images) and a sum of RBF kernels of widths h (:func:`diffax.metrics.mmd`). The batch gives
only the data rows (and their conditioning); the noise is drawn from the process's prior.
The objective keeps no auxiliary state.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp

from diffax import checks
from diffax.losses.base import check_process, compute_dtype, split_batch
from diffax.metrics import mmd
from diffax.objectives.parameterized import ParameterizedModel
from diffax.parameterization import check_parameterization
from diffax.processes.base import GaussianProcess
from diffax.samplers.registry import get_sampler, sampler_info
from diffax.samplers.schedules import get_schedule

Array = jax.Array


@dataclasses.dataclass(frozen=True)
class MMDFinetuneObjective(ParameterizedModel):
    """The MMD-DDM objective (module docstring); build it with :func:`mmd_finetune`."""

    process: GaussianProcess
    sampler: Callable
    timesteps: Array
    bandwidths: tuple[float, ...]
    features: Callable[[Array], Array] | None = None
    parameterization: str = "x0"
    time_input: str = "t"
    sigma_data: float = 0.5

    def generate(self, model_fn: Callable, noise: Array, cond: dict | None = None) -> Array:
        """The few-step generator S(z): the sampler from ``noise`` at t_max."""
        return self.sampler(model_fn, self.process, noise, self.timesteps,
                            prediction=self.kind, cond=cond or None).x

    def init(self, params: Any) -> Any:
        return ()

    def loss(self, net: Callable, params: Any, aux: Any, batch: dict,
             key: Array) -> tuple[Array, dict]:
        x, cond = split_batch(batch, "mmd_finetune")
        dtype = compute_dtype(x)
        x = x.astype(dtype)
        noise = self.process.prior_sample(key, x.shape, dtype)
        model = self.model_fn(lambda x_, c, **kw: net(params, x_, c, **kw))
        fake = self.generate(model, noise, cond)
        f = self.features or (lambda a: a)
        a, b = (f(v).reshape(v.shape[0], -1) for v in (fake, x))
        mmd2 = mmd(a, b, jnp.asarray(self.bandwidths, dtype))
        return mmd2, {"loss": mmd2, "mmd2": mmd2}

    def update(self, aux: Any, params: Any, step: Array) -> Any:
        return aux


def mmd_finetune(process: GaussianProcess, *, sampler: str = "ddim", num_steps: int = 4,
                 schedule: str = "uniform_log_snr",
                 bandwidths: Sequence[float] = (0.1, 0.25, 0.5, 1.0, 2.0),
                 features: Callable[[Array], Array] | None = None,
                 parameterization: str = "x0", time_input: str = "t",
                 sigma_data: float = 0.5) -> MMDFinetuneObjective:
    """MMD-DDM fine-tuning through ``num_steps`` steps of the deterministic ``sampler`` on
    ``schedule`` (module docstring). ``bandwidths`` are the RBF widths in the units of the
    (feature) data; ``features`` maps samples (B, ...) to features (the identity by
    default)."""
    where = "mmd_finetune"
    check_process(process, where)
    check_parameterization(parameterization, time_input)
    checks.positive_int(where, "num_steps", num_steps)
    info = sampler_info(sampler)
    if info.stochastic or info.adaptive:
        raise ValueError(f"{where}: sampler {sampler!r} is "
                         f"{'stochastic' if info.stochastic else 'adaptive'}; fine-tune a "
                         "fixed few-step deterministic sampler (e.g. 'ddim', "
                         "'dpm_solver++_2m', 'euler').")
    widths = tuple(float(h) for h in jnp.atleast_1d(jnp.asarray(bandwidths)))
    if not widths or min(widths) <= 0:
        raise ValueError(f"{where}: bandwidths must be positive, got {bandwidths!r}.")
    return MMDFinetuneObjective(process, get_sampler(sampler),
                                get_schedule(schedule, process, num_steps), widths, features,
                                parameterization, time_input, sigma_data)


__all__ = ["MMDFinetuneObjective", "mmd_finetune"]
