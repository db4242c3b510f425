"""Golden group ``loss``: every loss of :mod:`diffax.losses` (x kind x weighting x time
sampling x supported process) on a fixed batch of mixture samples with the exact
mixture model, its value and per-example auxiliaries, and the dsm gradients of a fixed
linear model.

Losses run op by op (not jitted): the 1,000-odd combinations then cost seconds, not the
minutes of as many XLA compilations, and the values do not depend on fusion choices.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from benchmarks.golden.common import (SEED_LOSS, Arrays, Case, Problems, process,
                                      process_names, to_numpy)

#: The losses of ``diffax.losses.LOSSES`` that :func:`loss_cases` records.
RECORDED_LOSSES = frozenset({"dsm", "edm", "ddpm_simple", "flow_matching"})


def _loss_entries(prefix: str, out: tuple[Any, Mapping[str, Any]]) -> Arrays:
    """``(value, aux)`` of a loss as entries ``prefix/value`` and ``prefix/aux/<key>``."""
    value, aux = to_numpy(out)
    entries = {f"{prefix}/value": np.asarray(value)}
    entries.update({f"{prefix}/aux/{k}": np.asarray(v) for k, v in sorted(aux.items())})
    return entries


def _run_loss(probs: Problems, prefix: str, model_kind: str, process_name: str,
              loss_fn: Callable) -> Arrays:
    """``loss_fn`` on the fixed batch with the exact ``model_kind`` mixture model."""
    import jax
    model = probs.mixture.model_fn(model_kind, process(process_name))
    x0, _ = probs.data
    return _loss_entries(prefix, loss_fn(model, {"x": x0}, jax.random.PRNGKey(SEED_LOSS)))


def _run_classifier_loss(probs: Problems, prefix: str, process_name: str,
                         loss_fn: Callable) -> Arrays:
    """The noisy-classifier loss of the exact class posterior log p_t(k | x_t)."""
    import jax
    import jax.numpy as jnp
    p = process(process_name)
    x0, comp = probs.data

    def logits_fn(x_t, t):
        return jnp.log(probs.mixture.responsibilities(x_t, t, p))

    return _loss_entries(prefix, loss_fn(logits_fn, {"x": x0, "label": comp},
                                         jax.random.PRNGKey(SEED_LOSS)))


def _run_linear_grad(probs: Problems, prefix: str, kind: str, process_name: str) -> Arrays:
    """Loss and gradient of dsm (uniform weighting and time) for a fixed linear model
    ``x W + t b`` (seeded W, b): the differentiated path of the losses."""
    import jax
    import jax.numpy as jnp
    from diffax.losses import get_loss
    p = process(process_name)
    loss_fn = get_loss("dsm", p, kind=kind)
    k_w, k_b = jax.random.split(jax.random.PRNGKey(5))
    params = {"w": 0.5 * jax.random.normal(k_w, (2, 2), jnp.float64),
              "b": jax.random.normal(k_b, (2,), jnp.float64)}
    x0, _ = probs.data

    def loss(params):
        model = lambda x, t: x @ params["w"] + t[:, None] * params["b"]  # noqa: E731
        return loss_fn(model, {"x": x0}, jax.random.PRNGKey(SEED_LOSS))[0]

    value, grads = to_numpy(jax.value_and_grad(loss)(params))
    return {f"{prefix}/value": np.asarray(value), f"{prefix}/grad/w": grads["w"],
            f"{prefix}/grad/b": grads["b"]}


def loss_cases(probs: Problems, skipped: list[dict]) -> list[Case]:
    """Every loss of ``diffax.losses`` on every process it accepts (a ValueError when
    built: listed in ``skipped``), and the dsm gradients of a linear model. A loss
    registered in ``diffax.losses.LOSSES`` but not recorded here is a ValueError."""
    from diffax import losses
    from diffax.predictions import KINDS
    cases = []

    def add(prefix: str, build: Callable[[], Callable],
            runner: Callable[[Callable], Arrays]) -> None:
        try:
            loss_fn = build()
        except ValueError as err:  # the loss refuses this process: not supported
            skipped.append({"case": prefix, "reason": str(err)[:200]})
            return
        cases.append(Case(prefix, functools.partial(runner, loss_fn)))

    for kind in KINDS:
        for weighting in losses.WEIGHTINGS:
            for ts in losses.TIME_SAMPLERS:
                for pname in process_names():
                    prefix = f"loss/dsm/{kind}/{weighting}/{ts}/{pname}"
                    add(prefix, functools.partial(losses.get_loss, "dsm", process(pname),
                                                  kind=kind, weighting=weighting,
                                                  time_sampling=ts),
                        functools.partial(_run_loss, probs, prefix, kind, pname))
    for pname in process_names():
        prefix = f"loss/edm/{pname}"
        add(prefix, functools.partial(losses.get_loss, "edm", process(pname)),
            functools.partial(_run_loss, probs, prefix, "x0", pname))
        prefix = f"loss/ddpm_simple/{pname}"
        add(prefix, functools.partial(losses.get_loss, "ddpm_simple", process(pname)),
            functools.partial(_run_loss, probs, prefix, "eps", pname))
        for ts in losses.TIME_SAMPLERS:
            prefix = f"loss/flow_matching/{ts}/{pname}"
            add(prefix, functools.partial(losses.get_loss, "flow_matching", process(pname),
                                          time_sampling=ts),
                functools.partial(_run_loss, probs, prefix, "velocity", pname))
            prefix = f"loss/noisy_classifier/{ts}/{pname}"
            add(prefix, functools.partial(losses.noisy_classifier_loss, process(pname),
                                          time_sampling=ts),
                functools.partial(_run_classifier_loss, probs, prefix, pname))
        for kind in KINDS:
            prefix = f"loss/dsm_linear_grad/{kind}/{pname}"
            cases.append(Case(prefix, functools.partial(_run_linear_grad, probs, prefix, kind,
                                                        pname)))
    missing = set(losses.LOSSES.names("gaussian")) - RECORDED_LOSSES  # PFGM++: tests/losses
    if missing:  # a loss registered after this module was written must be added here
        raise ValueError(f"benchmarks.golden.losses: losses {sorted(missing)} are registered "
                         "in diffax.losses.LOSSES but not recorded; add them to loss_cases.")
    return cases
