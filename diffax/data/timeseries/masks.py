"""Target masks for probabilistic time-series imputation, forecasting and anomaly detection.

A batch of windows is ``x`` (B, L, K) with ``observed_mask`` (B, L, K) in {0, 1}
(1 = value observed). A *target mask* marks the observed values hidden from the model
and scored; the model is conditioned on ``observed_mask * (1 - target_mask)``. Every
mask returned here is a float array of the observed mask's shape (float32 unless the
observed mask is another float type) and a subset of ``observed_mask``.

The generators are pure functions of a PRNG key and the masks (``jit``/``vmap``-able,
so they can run as a training batch transform). On concrete inputs (outside ``jit``)
they also check that ``observed_mask`` holds only 0 and 1 and, where a target is
required, that every example has an observed value. Empty conditioning or target sets
depend on the draw; :func:`check_masks` checks a finished pair on the host (call it on
evaluation masks, where every example must have both).

Strategies (CSDI: Tashiro et al., 2021, "CSDI: Conditional Score-based Diffusion
Models for Probabilistic Time Series Imputation", Sec. 4.3 and App. B; ImDiffusion:
Chen et al., 2023, "ImDiffusion: Imputed Diffusion Models for Multivariate Time Series
Anomaly Detection", Sec. 4.2):

* :func:`random_target_mask`: hide round(r * n_observed) observed values per example,
  chosen uniformly; r fixed at evaluation (10%, 50%, 90%), r ~ U[0, 1) per example in
  training (CSDI's "random" strategy);
* :func:`historical_target_mask`: hide the observed values that are missing in another
  example's observed pattern (CSDI's "historical" strategy);
  :func:`mix_target_mask` picks random or historical per example (CSDI's "mix");
* :func:`forecast_target_mask`: the last ``horizon`` steps;
* :func:`random_time_mask`: thin the observed mask by dropping whole time steps
  (irregular sampling);
* :func:`grating_masks`: ImDiffusion's complementary grating masks.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from diffax import checks

Array = jax.Array

__all__ = [
    "check_masks", "forecast_target_mask", "grating_masks", "historical_target_mask",
    "mix_target_mask", "random_target_mask", "random_time_mask",
]


def _indices(idx: np.ndarray, limit: int = 10) -> str:
    shown = ", ".join(str(int(i)) for i in idx[:limit])
    more = f", ... ({idx.size} in all)" if idx.size > limit else ""
    return f"[{shown}{more}]"


def _binary(fn: str, name: str, mask) -> Array:
    """``mask`` as a float (B, L, K) array; on concrete input, checks it is 0/1."""
    m = jnp.asarray(mask)
    checks.ndim(fn, name, m, 3, "(B, L, K)")
    if not jnp.issubdtype(m.dtype, jnp.floating):
        m = m.astype(jnp.float32)
    c = checks.concrete(m)
    if c is not None:
        bad = (c != 0) & (c != 1)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{fn}: {name} must contain only 0 and 1, got "
                             f"{c[where].item()!r} at index {where}.")
    return m


def _observed(fn: str, observed_mask, *, need_observed: bool) -> Array:
    m = _binary(fn, "observed_mask", observed_mask)
    c = checks.concrete(m)
    if need_observed and c is not None:
        empty = np.flatnonzero(c.reshape(c.shape[0], -1).sum(axis=1) == 0)
        if empty.size:
            raise ValueError(f"{fn}: example(s) {_indices(empty)} of observed_mask (shape "
                             f"{c.shape}) have no observed value, so no target can be chosen; "
                             "drop them from the batch.")
    return m


def random_target_mask(key: Array, observed_mask: Array, rate: float | None = None) -> Array:
    """CSDI's random strategy: hide an exact number of observed values per example.

        n_target(b) = round(r_b * n_observed(b)),   r_b = rate, or r_b ~ U[0, 1) if None,

    rounding half to even (as Python's ``round``). The hidden values are the
    ``n_target(b)`` observed positions with the smallest i.i.d. uniform scores, i.e. a
    uniformly random subset of that size (ranking, so the count is exact). CSDI
    evaluates with a fixed missing ratio (0.1, 0.5, 0.9) and trains with ``rate=None``.

    Args:
      key: PRNG key.
      observed_mask: (B, L, K) in {0, 1}.
      rate: fraction of each example's observed values to hide, in [0, 1], or ``None``
        to draw it per example. A traced ``rate`` is used unchecked.
    Returns:
      target mask (B, L, K).
    """
    fn = "random_target_mask"
    obs = _observed(fn, observed_mask, need_observed=True)
    b = obs.shape[0]
    key_rate, key_score = jax.random.split(key)
    if rate is None:
        r = jax.random.uniform(key_rate, (b,), dtype=obs.dtype)
    else:
        rate = checks.probability(fn, "rate", rate, skip_traced=True)
        r = jnp.broadcast_to(jnp.asarray(rate, obs.dtype), (b,))
    flat = obs.reshape(b, -1)
    scores = jax.random.uniform(key_score, flat.shape, dtype=obs.dtype)
    scores = jnp.where(flat > 0, scores, 2.0)  # unobserved positions rank last
    ranks = jnp.argsort(jnp.argsort(scores, axis=1), axis=1)
    n_target = jnp.round(r * jnp.sum(flat, axis=1))
    target = (ranks < n_target[:, None]) & (flat > 0)
    return target.astype(obs.dtype).reshape(obs.shape)


def historical_target_mask(key: Array, observed_mask: Array,
                           pattern_mask: Array | None = None) -> Array:
    """CSDI's historical strategy: hide what another example's pattern is missing.

        target = observed_mask * (1 - pattern_mask)

    so the conditioning set ``observed_mask * pattern_mask`` has a realistic
    missingness pattern. With ``pattern_mask=None`` example i takes the observed mask of
    example j = (i + s_i) mod B, s_i ~ U{1, ..., B-1} (another example of the batch,
    drawn with ``key``; CSDI takes the previous example of a shuffled batch, which is
    ``pattern_mask=jnp.roll(observed_mask, 1, axis=0)``). An example's target is empty
    where its pattern misses nothing it observes.

    Args:
      key: PRNG key (used only when ``pattern_mask`` is ``None``).
      observed_mask: (B, L, K) in {0, 1}.
      pattern_mask: (B, L, K) in {0, 1}, one pattern per example, or ``None``.
    Returns:
      target mask (B, L, K).
    """
    fn = "historical_target_mask"
    obs = _observed(fn, observed_mask, need_observed=True)
    b = obs.shape[0]
    if pattern_mask is None:
        if b < 2:
            raise ValueError(f"{fn}: borrowing another example's pattern (pattern_mask=None) "
                             f"needs a batch of at least 2 examples, got B={b}.")
        shift = jax.random.randint(key, (b,), 1, b)
        pattern = obs[(jnp.arange(b) + shift) % b]
    else:
        pattern = _binary(fn, "pattern_mask", pattern_mask)
        if pattern.shape != obs.shape:
            raise ValueError(f"{fn}: pattern_mask must have the shape of observed_mask "
                             f"{obs.shape}, got shape {pattern.shape}.")
    return obs * (1 - pattern.astype(obs.dtype))


def mix_target_mask(key: Array, observed_mask: Array, pattern_mask: Array | None = None,
                    *, rate: float | None = None, p_random: float = 0.5) -> Array:
    """CSDI's mix strategy: per example, the random strategy with probability
    ``p_random`` (CSDI: 0.5), else the historical one.

    Args:
      key: PRNG key.
      observed_mask: (B, L, K) in {0, 1}.
      pattern_mask: see :func:`historical_target_mask`.
      rate: see :func:`random_target_mask` (``None``: drawn per example, as in training).
      p_random: probability of the random strategy, in [0, 1].
    Returns:
      target mask (B, L, K).
    """
    fn = "mix_target_mask"
    p_random = checks.probability(fn, "p_random", p_random, skip_traced=True)
    key_rand, key_hist, key_pick = jax.random.split(key, 3)
    rand = random_target_mask(key_rand, observed_mask, rate)
    hist = historical_target_mask(key_hist, observed_mask, pattern_mask)
    pick = jax.random.uniform(key_pick, (rand.shape[0], 1, 1)) < p_random
    return jnp.where(pick, rand, hist)


def forecast_target_mask(observed_mask: Array, horizon: int) -> Array:
    """Forecasting: the observed values of the last ``horizon`` steps are the target,

        target[b, t, k] = observed_mask[b, t, k] * 1[t >= L - horizon].

    Args:
      observed_mask: (B, L, K) in {0, 1}.
      horizon: number of forecast steps, in [1, L - 1] (at least one context step).
    Returns:
      target mask (B, L, K).
    """
    fn = "forecast_target_mask"
    obs = _observed(fn, observed_mask, need_observed=True)
    length = obs.shape[1]
    horizon = checks.integer(fn, "horizon", horizon, minimum=1, maximum=length - 1)
    future = (jnp.arange(length) >= length - horizon).astype(obs.dtype)
    return obs * future[None, :, None]


def random_time_mask(key: Array, observed_mask: Array, keep: float) -> Array:
    """Irregular sampling: keep each time step (all its channels) with probability
    ``keep``, independently per example and step,

        observed'[b, t, k] = observed_mask[b, t, k] * 1[u_{b,t} < keep],  u ~ U[0, 1).

    Returns a thinned *observed* mask (draw targets from it afterwards); an example can
    lose every step when ``keep`` is small.

    Args:
      key: PRNG key.
      observed_mask: (B, L, K) in {0, 1}.
      keep: probability of keeping a step, in (0, 1]. A traced ``keep`` is used unchecked.
    Returns:
      observed mask (B, L, K).
    """
    fn = "random_time_mask"
    obs = _observed(fn, observed_mask, need_observed=False)
    keep = checks.probability(fn, "keep", keep, lo_open=True, skip_traced=True)
    u = jax.random.uniform(key, obs.shape[:2] + (1,), dtype=obs.dtype)
    return obs * (u < keep).astype(obs.dtype)


def grating_masks(length: int, num_features: int, num_masks: int = 2, *,
                  segment: int) -> Array:
    """ImDiffusion's grating masks: alternating time segments, one mask per phase,

        masks[m, t, k] = 1[floor(t / segment) mod num_masks = m],

    so the masks are complementary: every time step is a target in exactly one mask
    (ImDiffusion uses two). Multiply by ``observed_mask`` to get target masks of a
    batch; the anomaly score of a step comes from the mask in which it is imputed.

    Args:
      length: window length L >= 2.
      num_features: number of channels K >= 1.
      num_masks: number of masks, in [2, L].
      segment: segment length in steps, in [1, (L - 1) // (num_masks - 1)] so that every
        mask hides at least one step.
    Returns:
      (num_masks, L, K) float32 masks.
    """
    fn = "grating_masks"
    length = checks.integer(fn, "length", length, minimum=2)
    num_features = checks.positive_int(fn, "num_features", num_features)
    num_masks = checks.integer(fn, "num_masks", num_masks, minimum=2, maximum=length)
    longest = (length - 1) // (num_masks - 1)
    if not (checks.integer(fn, "segment", segment, minimum=1) <= longest):
        raise ValueError(f"{fn}: segment must be an integer in [1, {longest}] so that each of "
                         f"the {num_masks} masks hides at least one of the {length} steps, "
                         f"got segment={segment!r}.")
    phase = (jnp.arange(length) // segment) % num_masks
    masks = (phase[None, :] == jnp.arange(num_masks)[:, None]).astype(jnp.float32)
    return jnp.broadcast_to(masks[:, :, None], (num_masks, length, num_features))


def check_masks(observed_mask, target_mask) -> None:
    """Host-side check of an (observed, target) pair before evaluation.

    Raises ``ValueError`` when the masks are not (B, L, K) arrays of the same shape
    holding 0/1, when the target hides a value that is not observed, or when some
    example's conditioning set ``observed * (1 - target)`` or target set is empty (a
    mask that hides everything, or nothing); the message names the examples.
    Traced values cannot be checked: call it outside ``jit``.
    """
    fn = "check_masks"
    arrays = {}
    for name, value in (("observed_mask", observed_mask), ("target_mask", target_mask)):
        c = checks.concrete(value)
        if c is None:
            raise ValueError(f"{fn}: {name} must be a concrete array (call check_masks "
                             f"outside jit), got {type(value).__name__}.")
        arrays[name] = np.asarray(_binary(fn, name, c))
    obs, tgt = arrays["observed_mask"], arrays["target_mask"]
    if obs.shape != tgt.shape:
        raise ValueError(f"{fn}: target_mask must have the shape of observed_mask "
                         f"{obs.shape}, got shape {tgt.shape}.")
    b = obs.shape[0]
    problems = []
    outside = np.flatnonzero(((tgt > 0) & (obs == 0)).reshape(b, -1).any(axis=1))
    if outside.size:
        problems.append(f"example(s) {_indices(outside)} have targets at unobserved positions")
    cond_count = (obs * (1 - tgt)).reshape(b, -1).sum(axis=1)
    no_cond = np.flatnonzero(cond_count == 0)
    if no_cond.size:
        problems.append(f"example(s) {_indices(no_cond)} have an empty conditioning set "
                        "(every observed value is a target)")
    no_target = np.flatnonzero((tgt * obs).reshape(b, -1).sum(axis=1) == 0)
    if no_target.size:
        problems.append(f"example(s) {_indices(no_target)} have an empty target set "
                        "(nothing to score)")
    if problems:
        raise ValueError(f"{fn}: " + "; ".join(problems) + f" (batch of {b}).")
