"""diffax: a pure-functional JAX codebase for diffusion and flow generative models."""

__version__ = "0.1.0"
