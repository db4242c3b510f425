"""Guidance: classifier-free guidance, classifier guidance (noise-aware, or an
off-the-shelf classifier on the denoised estimate), and the superposition of models
(SuperDiff OR / AND). Each guidance is a ``model_fn`` wrapper, so every sampler
supports it."""

from diffax.guidance.classifier import (classifier_guidance, denoised_classifier_guidance,
                                        fit_temperature)
from diffax.guidance.classifier_free import classifier_free_guidance
from diffax.guidance.superposition import SuperpositionOutput, superposition

__all__ = ["SuperpositionOutput", "classifier_free_guidance", "classifier_guidance",
           "denoised_classifier_guidance", "fit_temperature", "superposition"]
