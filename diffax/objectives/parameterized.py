"""The model of a network under a named parameterization, shared by the objectives.

An objective that trains a network ``net(x, c, **cond)`` as a diffusion model of its
``process`` under ``parameterization`` (``eps``, ``x0``, ``v``, ``velocity``, ``edm``, ...;
see :mod:`diffax.parameterization`) states the two facts that samplers and evaluation need
once, here: the prediction ``kind`` (what samplers are told) and ``model_fn(net)``.
"""

from __future__ import annotations

from typing import Callable

from diffax.parameterization import make_model_fn, model_kind


class ParameterizedModel:
    """Mixin for objective dataclasses with fields ``process``, ``parameterization`` and
    ``time_input`` (and optionally ``sigma_data``, used by the ``edm`` preconditioning of
    Karras et al. 2022, eq. 7; 0.5 where the objective has no such field)."""

    sigma_data = 0.5

    @property
    def kind(self) -> str:
        """The prediction kind of the trained model (what samplers are told)."""
        return model_kind(self.parameterization)

    def model_fn(self, net: Callable) -> Callable:
        """The diffusion model ``model_fn(x, t, **cond)`` of a network ``net(x, c, **cond)``."""
        return make_model_fn(net, self.process, self.parameterization,
                             time_input=self.time_input, sigma_data=self.sigma_data)[0]
