"""Guidance: classifier-free guidance (more in later issues)."""

from diffax.guidance.classifier_free import classifier_free_guidance

__all__ = ["classifier_free_guidance"]
