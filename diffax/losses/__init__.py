"""Training objectives as pure functions ``loss_fn(model_fn, batch, key) -> (loss, aux)``.

* :func:`denoising_loss`: denoising score matching for every prediction kind and
  Gaussian process, with named weightings (``WEIGHTINGS``) and time distributions
  (``TIME_SAMPLERS``).
* :func:`edm_loss`: Karras et al. (2022) for a preconditioned denoiser.
* :func:`ddpm_simple_loss`: Ho et al. (2020) on a discrete schedule.
* :func:`flow_matching_loss`: conditional flow matching / rectified flow.
* :func:`pfgmpp_loss`: PFGM++ (Xu et al., 2023), EDM's loss with the PFGM++ kernel.
* :func:`noisy_classifier_loss`: cross-entropy of a time-aware classifier on noised
  data (classifier guidance).
* :func:`get_loss`: the above by name ("dsm", "edm", "ddpm_simple", "flow_matching").

See ``diffax.losses.base`` for the interface.
"""

from diffax.losses.base import LossFn, ModelFn, TimeSampler, WeightFn
from diffax.losses.classifier import noisy_classifier_loss
from diffax.losses.ddpm import ddpm_simple_loss, ddpm_step_range
from diffax.losses.denoising import denoising_loss, dsm_objective, edm_loss
from diffax.losses.flow_matching import flow_matching_loss
from diffax.losses.pfgmpp import pfgmpp_loss
from diffax.losses.registry import LOSSES, get_loss
from diffax.losses.time_sampling import TIME_SAMPLERS, make_time_sampler
from diffax.losses.weighting import WEIGHTINGS, kind_error_scale, make_weighting, x0_weight

__all__ = [
    "LossFn", "ModelFn", "TimeSampler", "WeightFn",
    "denoising_loss", "dsm_objective", "edm_loss", "ddpm_simple_loss", "ddpm_step_range",
    "flow_matching_loss", "get_loss", "LOSSES", "noisy_classifier_loss", "pfgmpp_loss",
    "TIME_SAMPLERS", "make_time_sampler",
    "WEIGHTINGS", "kind_error_scale", "make_weighting", "x0_weight",
]
