"""Vectors (the 2-D toys, Gaussian mixtures): an MLP denoiser, NLL in nats, scatter plots
of 2-D samples next to the data. Everything is :class:`~experiments.tasks.base.Task`'s
default."""

from experiments.tasks.base import Task


class VectorTask(Task):
    name = "vector"


__all__ = ["VectorTask"]
