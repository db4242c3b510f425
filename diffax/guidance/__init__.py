"""Guidance: classifier-free guidance, and the superposition of models (SuperDiff OR /
AND)."""

from diffax.guidance.classifier_free import classifier_free_guidance
from diffax.guidance.superposition import SuperpositionOutput, superposition

__all__ = ["SuperpositionOutput", "classifier_free_guidance", "superposition"]
