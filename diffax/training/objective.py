"""What the train step optimises: an objective with ``init / loss / update`` (optax-style).

The train step (:mod:`diffax.training.step`) differentiates ``objective.loss`` with
respect to the trained parameters and knows nothing else about it:

* ``init(params) -> aux``: auxiliary state kept in ``TrainState.aux`` and checkpointed
  with it: a frozen teacher's parameters, an EMA target network with its own schedule,
  a buffer of couplings. ``()`` when there is none.
* ``loss(net, params, aux, batch, key) -> (loss, metrics)``: ``net(params, x, c, **cond)``
  applies the network being trained (already cast to the compute dtype and given its
  dropout key) with any parameters, so an objective can also evaluate, e.g., an EMA
  target of the same network. ``params`` are the ones being differentiated; ``aux``
  receives no gradient.
* ``update(aux, params, step) -> aux``: runs after each accepted optimizer update (an EMA
  target moves, a teacher stays).

:class:`FunctionObjective` turns a plain ``loss_fn(model, batch, key)`` of one network
into an objective; diffusion objectives live in :mod:`diffax.objectives`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Protocol

import jax

Net = Callable[..., jax.Array]            # net(params, x, c, **cond)
LossFn = Callable[[Callable, dict, jax.Array], tuple[jax.Array, dict]]


class Objective(Protocol):
    """The contract of :mod:`diffax.training.step` (see the module docstring)."""

    def init(self, params: Any) -> Any: ...

    def loss(self, net: Net, params: Any, aux: Any, batch: dict,
             key: jax.Array) -> tuple[jax.Array, dict]: ...

    def update(self, aux: Any, params: Any, step: jax.Array) -> Any: ...


def _identity(model: Callable) -> Callable:
    return model


@dataclasses.dataclass(frozen=True)
class FunctionObjective:
    """The objective ``loss_fn(wrap(model), batch, key)`` of one network and no auxiliary
    state, where ``model(x, c, **cond)`` is the network at the trained parameters and
    ``wrap`` turns it into what ``loss_fn`` expects (identity by default)."""

    loss_fn: LossFn
    wrap: Callable[[Callable], Callable] = _identity

    def init(self, params: Any) -> Any:
        return ()

    def loss(self, net: Net, params: Any, aux: Any, batch: dict,
             key: jax.Array) -> tuple[jax.Array, dict]:
        model = self.wrap(lambda x, c, **cond: net(params, x, c, **cond))
        return self.loss_fn(model, batch, key)

    def update(self, aux: Any, params: Any, step: jax.Array) -> Any:
        return aux


def check_objective(objective: Any) -> None:
    """Raise ``TypeError`` naming what is missing when ``objective`` lacks the contract."""
    missing = [m for m in ("init", "loss", "update") if not callable(getattr(objective, m, None))]
    if missing:
        raise TypeError(f"{type(objective).__name__} is not an objective: it has no "
                        f"{missing} method(s); implement init/loss/update "
                        f"(diffax.training.objective) or wrap a plain loss in "
                        f"FunctionObjective(loss_fn).")


__all__ = ["FunctionObjective", "LossFn", "Net", "Objective", "check_objective"]
