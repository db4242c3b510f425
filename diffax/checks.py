"""Argument checks shared by the whole library (one behaviour, one message format).

Every check validates one argument at a public boundary and either returns the value
(normalised: a Python ``int``/``float``/``bool``, or the array) or raises
``ValueError`` whose message names

* where the argument was given (``where``: the public function or class, e.g.
  ``"VPLinear"`` or ``"get_loss"``; may be empty),
* the argument and the bad value (``name=value``),
* what is allowed (the valid choices, the range, the expected shape),

in the form ``"{where}: {name} must be {requirement}, got {name}={value!r}."``.

Values inside ``jit``/``vmap``/``grad`` are tracers and cannot be inspected on the
host. Three helpers say what can be checked:

* :func:`is_concrete`: no argument is a tracer;
* :func:`concrete`: a NumPy copy of a value that is not a tracer, else ``None``;
* :func:`host_float`: ``float(value)`` for Python/NumPy numbers only (``None`` for any
  JAX array, traced or not). Pytree constructors (processes, mixtures) use it: JAX
  rebuilds them from traced leaves, placeholders and concrete arrays that are not
  hyper-parameters at all (gradients, ``tree_map(jnp.zeros_like, ...)``).

Number checks take ``skip_traced=True`` to let a tracer through unchecked (the value
is then returned as given).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "boolean", "choice", "concrete", "distinct", "finite", "float_batch", "floating",
    "host_float", "in_range", "increasing", "integer", "interval", "is_concrete",
    "multiple_of", "ndim", "positive", "positive_int", "probability", "shape",
]


# ---- what can be inspected on the host ---------------------------------------------------


def is_concrete(*values: Any) -> bool:
    """True when no argument is a JAX tracer (so its value can be checked on the host)."""
    return not any(isinstance(v, jax.core.Tracer) for v in values)


def concrete(value: Any, dtype: Any = None) -> np.ndarray | None:
    """``np.asarray(value, dtype)`` when ``value`` can be read on the host, else ``None``
    (a tracer inside ``jit``/``vmap``, or something that is not array-like)."""
    if not is_concrete(value):
        return None
    try:
        return np.asarray(value, dtype=dtype)
    except Exception:  # ragged sequences, objects without an array form
        return None


def host_float(value: Any) -> float | None:
    """``float(value)`` when ``value`` is a Python or NumPy number (a 0-d or one-element
    NumPy array included), else ``None``: JAX arrays, traced or concrete, are never
    read (see the module docstring)."""
    if isinstance(value, jax.Array):  # includes tracers
        return None
    try:
        return float(value)
    except Exception:  # placeholders, strings, arrays with more than one element
        return None


# ---- messages ----------------------------------------------------------------------------


def _prefix(where: str) -> str:
    return f"{where}: " if where else ""


def _fail(where: str, name: str, value: Any, requirement: str) -> ValueError:
    return ValueError(f"{_prefix(where)}{name} must be {requirement}, got {name}={value!r}.")


def _listed(choices: Iterable[Any]) -> list:
    """Choices as a list for a message: sequences keep their order, others are sorted."""
    if isinstance(choices, (list, tuple)):
        return list(choices)
    try:
        return sorted(choices)
    except TypeError:  # mixed types
        return list(choices)


# ---- names and flags ---------------------------------------------------------------------


def choice(where: str, name: str, value: Any, choices: Iterable[Any]) -> Any:
    """``value`` if it is one of ``choices``; otherwise ``ValueError: {where}: unknown
    {name} {value!r}; valid choices: [...]`` (a list or tuple keeps its order, other
    collections are sorted)."""
    try:
        ok = value in choices
    except TypeError:  # unhashable value against a dict/set
        ok = False
    if not ok:
        raise ValueError(f"{_prefix(where)}unknown {name} {value!r}; valid choices: "
                         f"{_listed(choices)}.")
    return value


def boolean(where: str, name: str, value: Any) -> bool:
    """``value`` if it is ``True`` or ``False`` (Python or NumPy bool); 0/1, strings and
    arrays are refused, since a config typo like ``"False"`` is truthy."""
    if not isinstance(value, (bool, np.bool_)):
        raise _fail(where, name, value, "True or False")
    return bool(value)


# ---- numbers -----------------------------------------------------------------------------


def integer(where: str, name: str, value: Any, *, minimum: int | None = None,
            maximum: int | None = None) -> int:
    """``int(value)`` for a Python/NumPy integer (not a bool) in [minimum, maximum]."""
    ok = isinstance(value, (numbers.Integral, np.integer)) and not isinstance(
        value, (bool, np.bool_))
    ok = ok and (minimum is None or value >= minimum) and (maximum is None or value <= maximum)
    if not ok:
        if minimum is not None and maximum is not None:
            req = f"an integer in [{minimum}, {maximum}]"
        elif minimum is not None:
            req = f"an integer >= {minimum}"
        elif maximum is not None:
            req = f"an integer <= {maximum}"
        else:
            req = "an integer"
        raise _fail(where, name, value, req)
    return int(value)


def positive_int(where: str, name: str, value: Any) -> int:
    """``int(value)`` for an integer >= 1 (see :func:`integer`)."""
    return integer(where, name, value, minimum=1)


def multiple_of(where: str, name: str, value: Any, factor: int, *,
                factor_is: str | None = None) -> int:
    """``int(value)`` for a Python/NumPy integer (not a bool) divisible by ``factor``, e.g.
    a global batch size split evenly over the devices; ``factor_is`` says in the message
    what ``factor`` counts (``"the devices of the mesh"``)."""
    ok = isinstance(value, (numbers.Integral, np.integer)) and not isinstance(
        value, (bool, np.bool_))
    if not (ok and value % factor == 0):
        req = f"an integer multiple of {factor}" + (f" ({factor_is})" if factor_is else "")
        raise _fail(where, name, value, req)
    return int(value)


def _bound(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo}, {hi}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '>='} {lo}"
    if hi is not None:
        return f"{'<' if hi_open else '<='} {hi}"
    return "a number"


def in_range(where: str, name: str, value: Any, *, lo: float | None = None,
             hi: float | None = None, lo_open: bool = False, hi_open: bool = False,
             finite: bool = True, skip_traced: bool = False) -> Any:
    """``float(value)`` for a real number in the interval from ``lo`` to ``hi`` (closed
    ends unless ``lo_open``/``hi_open``; ``None``: unbounded) that is finite unless
    ``finite=False``. Accepts Python/NumPy numbers and 0-d arrays; ``skip_traced=True``
    returns a tracer unchecked."""
    if skip_traced and not is_concrete(value):
        return value
    requirement = _bound(lo, hi, lo_open, hi_open)
    if finite and requirement != "a number":
        requirement = f"finite and {requirement}"
    elif finite:
        requirement = "a finite number"
    if isinstance(value, (bool, np.bool_, str)):
        raise _fail(where, name, value, requirement)
    try:
        v = float(value)
    except Exception:  # not a number, an array with several entries, a tracer
        raise _fail(where, name, value, requirement) from None
    ok = not (finite and not math.isfinite(v)) and not math.isnan(v)
    if lo is not None:
        ok = ok and (v > lo if lo_open else v >= lo)
    if hi is not None:
        ok = ok and (v < hi if hi_open else v <= hi)
    if not ok:
        raise _fail(where, name, value, requirement)
    return v


def finite(where: str, name: str, value: Any, *, skip_traced: bool = False) -> Any:
    """``float(value)`` for a finite real number."""
    return in_range(where, name, value, skip_traced=skip_traced)


def positive(where: str, name: str, value: Any, *, skip_traced: bool = False) -> Any:
    """``float(value)`` for a finite real number > 0."""
    return in_range(where, name, value, lo=0, lo_open=True, skip_traced=skip_traced)


def probability(where: str, name: str, value: Any, *, lo_open: bool = False,
                hi_open: bool = False, skip_traced: bool = False) -> Any:
    """``float(value)`` for a number in [0, 1] (ends excluded with ``lo_open``/``hi_open``:
    a dropout rate is in [0, 1), a quantile level in (0, 1))."""
    return in_range(where, name, value, lo=0, hi=1, lo_open=lo_open, hi_open=hi_open,
                    skip_traced=skip_traced)


def interval(where: str, lo_value: Any, hi_value: Any, *, lo: float = -math.inf,
             hi: float = math.inf, names: tuple[str, str] = ("t_min", "t_max"),
             lo_open: bool = False) -> tuple[float, float]:
    """``(float(lo_value), float(hi_value))`` for a sub-interval with
    ``lo <= lo_value < hi_value <= hi`` (``lo < lo_value`` with ``lo_open``), e.g. a
    process's truncation interval ``[t_min, t_max]`` inside ``[0, 1]``."""
    a, b = names
    try:
        x, y = float(lo_value), float(hi_value)
    except Exception:
        x = y = math.nan
    first = (lo < x) if lo_open else (lo <= x)
    if not (first and x < y <= hi):
        raise ValueError(f"{_prefix(where)}need {lo} {'<' if lo_open else '<='} {a} < {b} "
                         f"<= {hi}, got {a}={lo_value}, {b}={hi_value}.")
    return x, y


def increasing(where: str, name: str, values: Any, *, strict: bool = True,
               decreasing: bool = False) -> Any:
    """``values`` if it is 1-D and (strictly, unless ``strict=False``) increasing, or
    decreasing with ``decreasing=True``. A traced ``values`` is returned unchecked."""
    c = concrete(values)
    if c is None:
        if is_concrete(values):
            raise ValueError(f"{_prefix(where)}{name} must be a 1-D array of numbers, got "
                             f"{values!r}.")
        return values
    if c.ndim != 1:
        raise ValueError(f"{_prefix(where)}{name} must be 1-D, got shape {c.shape}.")
    d = np.diff(c)
    if decreasing:
        d = -d
    if not (np.all(d > 0) if strict else np.all(d >= 0)):
        word = ("strictly " if strict else "") + ("decreasing" if decreasing else "increasing")
        raise ValueError(f"{_prefix(where)}{name} must be {word}, got {name}={c}.")
    return values


def distinct(where: str, name: str, values: Any) -> Any:
    """``values`` if no entry occurs twice (entries compared with ``==``, hashable), e.g.
    EMA decays that name one copy each; the message names the repeated entry."""
    seen: set = set()
    for v in values:
        if v in seen:
            raise _fail(where, name, values, f"distinct ({v!r} occurs more than once)")
        seen.add(v)
    return values


# ---- arrays ------------------------------------------------------------------------------


def _shape_of(x: Any) -> tuple[int, ...]:
    return tuple(np.shape(x)) if not hasattr(x, "shape") else tuple(x.shape)


def ndim(where: str, name: str, x: Any, allowed: int | Sequence[int],
         layout: str | None = None) -> Any:
    """``x`` if its number of dimensions is (one of) ``allowed``; the message shows the
    expected ``layout`` (e.g. ``"(n, d)"``) when given."""
    allowed = (allowed,) if isinstance(allowed, int) else tuple(allowed)
    s = _shape_of(x)
    if len(s) not in allowed:
        want = layout or " or ".join(f"{k}-D" for k in allowed)
        raise ValueError(f"{_prefix(where)}{name} must have shape {want}, got shape {s}.")
    return x


def shape(where: str, name: str, x: Any, expected: Sequence[int | None]) -> Any:
    """``x`` if its shape matches ``expected`` (``None`` matches any size)."""
    s = _shape_of(x)
    ok = len(s) == len(expected) and all(e is None or e == d for e, d in zip(expected, s))
    if not ok:
        want = "(" + ", ".join("*" if e is None else str(e) for e in expected) + \
               ("," if len(expected) == 1 else "") + ")"
        raise ValueError(f"{_prefix(where)}{name} must have shape {want}, got shape {s}.")
    return x


def binary_mask(where: str, name: str, mask: Any, shape: Sequence[int], *,
                like: str = "x") -> np.ndarray:
    """``mask`` as a boolean array, after checking that it has ``shape`` (that of the
    array named ``like``) and holds only 0 and 1 (1 = observed); the message names the
    first offending entry and its index."""
    m = np.asarray(mask)
    if m.shape != tuple(shape):
        raise ValueError(f"{_prefix(where)}{name} must have the shape of {like} "
                         f"{tuple(shape)}, got shape {m.shape}.")
    if m.dtype != bool:
        bad = (m != 0) & (m != 1)
        if bad.any():
            at = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{_prefix(where)}{name} must contain only 0 and 1 (1 = "
                             f"observed), got {m[at].item()!r} at index {at}.")
    return m.astype(bool)


def floating(where: str, name: str, x: Any) -> Any:
    """``x`` if its dtype is floating point (a dtype itself is accepted too)."""
    if isinstance(x, (np.dtype, type, str)):
        dtype = jnp.dtype(x)
    elif hasattr(x, "dtype"):
        dtype = x.dtype
    else:
        dtype = jnp.asarray(x).dtype
    if not jnp.issubdtype(dtype, jnp.floating):
        raise ValueError(f"{_prefix(where)}{name} must be floating point, got dtype {dtype}.")
    return x


def float_batch(where: str, name: str, x: Any, *, min_ndim: int = 1) -> jax.Array:
    """``jnp.asarray(x)`` if it is a floating-point batch ``(B, ...)`` with at least
    ``min_ndim`` axes (static information only, so it also runs under ``jit``)."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating) or x.ndim < min_ndim:
        raise ValueError(f"{_prefix(where)}{name} must be a float batch (B, ...) with at least "
                         f"{min_ndim} axes, got dtype {x.dtype} and shape {x.shape}.")
    return x
