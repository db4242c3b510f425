"""Inputs of the time-series denoisers (:class:`~diffax.nn.csdi.CSDI`,
:class:`~diffax.nn.unet1d.UNet1D`): windows ``x`` (B, L, K) of L time steps and K features.

Both are called as ``net(x, t, label=None, *, cond_mask=None, cond_values=None, time=None,
pad_mask=None, dropout_key=None)``:

* ``cond_mask`` (B, L, K), 1 where a value is given as conditioning (imputation,
  forecasting), 0 where it is to be generated; ``cond_values`` (B, L, K) the given values.
  Both None: unconditional generation (mask 0). The networks see

      target   = x * (1 - cond_mask)            (the noisy state, only where nothing is given)
      observed = cond_values * cond_mask        (the given values, only where given)

  so their output is a function of the conditioning values and the noisy targets only
  (as in CSDI, Tashiro et al. 2021).
* ``time`` (B, L) or (L,) real positions / timestamps of the steps (None: 0, 1, ..., L-1).
* ``pad_mask`` (B, L) bool, True at real steps, False at padding (variable-length windows).
  ``x``, ``cond_values``, ``cond_mask`` and ``time`` are replaced by 0 at padded steps (so
  their values there, NaN included, never matter) and the output is 0 there.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from diffax import checks


class SeriesInputs(NamedTuple):
    """What a series network sees: all (B, L, K) in x's dtype, except ``time`` (B, L)
    float32 and ``pad`` (B, L) bool or None."""

    target: jax.Array
    observed: jax.Array
    mask: jax.Array
    time: jax.Array
    pad: jax.Array | None


def series_inputs(where: str, x: jax.Array, num_features: int, cond_mask: jax.Array | None,
                  cond_values: jax.Array | None, time: jax.Array | None,
                  pad_mask: jax.Array | None) -> SeriesInputs:
    """Check the shapes of a series network's inputs and build :class:`SeriesInputs`
    (definitions in the module docstring). Only static information is checked, so this
    also runs under ``jit``; ``cond_mask`` is assumed to be 0/1."""
    x = jnp.asarray(x)
    if x.ndim != 3 or x.shape[-1] != num_features:
        raise ValueError(f"{where} expects x of shape (B, L, {num_features}) (num_features="
                         f"{num_features}), got shape {x.shape}.")
    checks.floating(where, "x", x)
    batch, length, _ = x.shape
    if (cond_mask is None) != (cond_values is None):
        given, missing = ("cond_mask", "cond_values") if cond_values is None else \
            ("cond_values", "cond_mask")
        raise ValueError(f"{where}: {given} was given without {missing}; pass both (or neither, "
                         f"for unconditional generation).")
    if cond_mask is None:
        mask = jnp.zeros_like(x)
        observed = jnp.zeros_like(x)
    else:
        mask = jnp.asarray(checks.shape(where, "cond_mask", cond_mask, x.shape)).astype(x.dtype)
        values = jnp.asarray(checks.shape(where, "cond_values", cond_values, x.shape))
        observed = values.astype(x.dtype) * mask
    target = x * (1 - mask)
    if time is None:
        time = jnp.arange(length, dtype=jnp.float32)
    time = jnp.asarray(time)
    if time.shape not in ((length,), (batch, length)):
        raise ValueError(f"{where}: time must have shape ({batch}, {length}) or ({length},), "
                         f"got shape {time.shape}.")
    time = jnp.broadcast_to(time.astype(jnp.float32), (batch, length))
    pad = None
    if pad_mask is not None:
        pad = jnp.asarray(checks.shape(where, "pad_mask", pad_mask, (batch, length))).astype(bool)
        real = pad[..., None]
        zero = jnp.zeros((), x.dtype)
        target = jnp.where(real, target, zero)
        observed = jnp.where(real, observed, zero)
        mask = jnp.where(real, mask, zero)
        time = jnp.where(pad, time, 0.0)
    return SeriesInputs(target, observed, mask, time, pad)


def series_output(out: jax.Array, pad: jax.Array | None, dtype: jnp.dtype) -> jax.Array:
    """The network output (B, L, K) in ``dtype``, 0 at padded steps."""
    if pad is not None:
        out = jnp.where(pad[..., None], out, jnp.zeros((), out.dtype))
    return out.astype(dtype)
