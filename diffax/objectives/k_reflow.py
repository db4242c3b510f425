"""k-rectified flow: repeated reflow, with the straightness of every round.

Liu, Gong & Liu (2023), "Flow Straight and Fast", Sec. 2.3 and Theorem 3.7: starting from
a flow Z^1 (the 1-rectified flow, or any pretrained model), round k builds the coupling
pi^k = law(ODE_k(z), z) of the current flow (:func:`~diffax.objectives.reflow.generate_coupling`)
and trains the (k+1)-rectified flow on it (:func:`~diffax.objectives.reflow.reflow_objective`).
Each round keeps the marginals, does not increase any convex transport cost and decreases
the straightness; Theorem 3.7 bounds min_{k <= K} S(Z^k) = O(1/K):

    S(Z^1) >= S(Z^2) >= ... ,   S(Z) = int_0^1 E || v(Z_t, t) - (Z_1 - Z_0) ||^2 dt.

:func:`k_rectified_flow` runs the rounds with a caller-supplied trainer (how a round is
trained, on how many steps and devices, is the caller's) and reports S(Z^k) on held-out
noise.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax

from diffax import checks
from diffax.losses.base import ModelFn, check_process
from diffax.objectives.reflow import Coupling, generate_coupling, straightness
from diffax.processes.base import GaussianProcess

Array = jax.Array


class Round(NamedTuple):
    """Round k: the flow ``model_fn`` of Z^k, its straightness ``S`` on the evaluation
    noise and the coupling it was trained on (``None`` for the starting flow)."""

    model_fn: ModelFn
    straightness: Array
    coupling: Coupling | None


def k_rectified_flow(train_round: Callable[[Coupling, int], ModelFn], model_fn: ModelFn,
                     process: GaussianProcess, noise: Array, eval_noise: Array, *,
                     num_rounds: int, prediction: str = "velocity",
                     coupling_options: dict | None = None,
                     straightness_options: dict | None = None) -> list[Round]:
    """``[Round 1, ..., Round num_rounds + 1]``: Z^1 = ``model_fn`` (kind ``prediction``)
    and each Z^{k+1} = ``train_round(coupling_k, k)`` (a model of the same kind), where
    ``coupling_k`` pairs ``noise`` with Z^k's ODE samples (``coupling_options`` go to
    :func:`generate_coupling`). S is measured from ``eval_noise`` (``straightness_options``
    go to :func:`straightness`)."""
    where = "k_rectified_flow"
    check_process(process, where)
    checks.positive_int(where, "num_rounds", num_rounds)
    if not callable(train_round):
        raise ValueError(f"{where}: train_round must be callable as train_round(coupling, k) "
                         f"-> model_fn, got {type(train_round).__name__}.")
    c_opts, s_opts = dict(coupling_options or {}), dict(straightness_options or {})

    def measure(fn: ModelFn) -> Array:
        return straightness(fn, process, eval_noise, prediction=prediction, **s_opts)[0]

    rounds = [Round(model_fn, measure(model_fn), None)]
    for k in range(1, num_rounds + 1):
        coupling = generate_coupling(rounds[-1].model_fn, process, noise,
                                     prediction=prediction, **c_opts)
        fn = train_round(coupling, k)
        rounds.append(Round(fn, measure(fn), coupling))
    return rounds


__all__ = ["Round", "k_rectified_flow"]
