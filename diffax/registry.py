"""One registry helper for every "name -> thing" table of the library and the experiments.

Processes, samplers, schedules, losses and objectives, networks, datasets, tasks, inverse
solvers and metrics are all looked up by name from configs. :class:`Registry` gives each
table the same behaviour:

* registration by decorator in the file that defines the entry
  (``@SAMPLERS.register("ddim", family="gaussian")``), or by :meth:`Registry.add`; for
  the length of a ``with`` block only (a notebook's prototype, a test's draft task) by
  :meth:`Registry.temporary`;
* a duplicate name is an error at import time;
* an unknown name is a ``ValueError`` that names the table, the value and the valid
  choices (and the closest one, for typos);
* :meth:`Registry.build` validates keyword options against the entry's signature, so
  a misspelt option is a ``ValueError`` naming the valid options, and options that the
  name already binds cannot be silently overridden;
* every entry records its *family* (``"gaussian"``, ``"discrete"``, ...), and
  :meth:`Registry.check_family` refuses mixing, e.g. a Gaussian sampler with a
  discrete-state process.

A registry is a read-only ``Mapping`` from names to the registered objects, so
``sorted(REG)``, ``name in REG`` and ``REG[name]`` keep working where a dict was used.
"""

from __future__ import annotations

import contextlib
import dataclasses
import difflib
import inspect
from collections.abc import Iterator, Mapping
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered object with its family and free-form metadata."""

    name: str
    obj: T
    family: str | None
    metadata: dict


def _suggest(name: str, choices) -> str:
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def accepted_options(fn: Callable, *, skip: int = 0) -> list[str] | None:
    """Keyword options ``fn`` accepts after its first ``skip`` positional parameters;
    None when it takes ``**kwargs`` (anything goes)."""
    if inspect.isclass(fn):  # a class's signature can be hidden by its metaclass (nnx)
        fn, skip = fn.__init__, skip + 1
    try:
        params = list(inspect.signature(fn).parameters.values())[skip:]
    except (TypeError, ValueError):  # builtins without a signature
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return [p.name for p in params
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]


def check_options(where: str, fn: Callable, options: Mapping[str, Any], *, skip: int = 0,
                  bound: Mapping[str, Any] | None = None) -> None:
    """Raise ``ValueError`` if ``options`` holds a keyword ``fn`` does not accept, or one
    of ``bound`` (options fixed by a registered name) with a different value."""
    accepted = accepted_options(fn, skip=skip)
    if accepted is not None:
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            hint = "".join(_suggest(u, accepted) for u in unknown[:1])
            raise ValueError(f"{where}: unknown option(s) {unknown}{hint}; valid options: "
                             f"{sorted(accepted)}.")
    for key, value in (bound or {}).items():
        if key in options and not _same(options[key], value):
            raise ValueError(f"{where}: option {key}={options[key]!r} conflicts with "
                             f"{key}={value!r}, which this name fixes; choose the name "
                             f"registered for {key}={options[key]!r} instead.")


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b)
    except Exception:  # arrays and other objects without a boolean ==
        return a is b


class Registry(Mapping[str, T]):
    """A named table of ``kind`` entries (see the module docstring)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    # -- registration -------------------------------------------------------------------
    def add(self, name: str, obj: T, *, family: str | None = None, **metadata: Any) -> T:
        """Register ``obj`` as ``name``; returns ``obj``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} names must be non-empty strings, got {name!r}.")
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice.")
        self._entries[name] = Entry(name, obj, family, dict(metadata))
        return obj

    @contextlib.contextmanager
    def temporary(self, name: str, obj: T, *, family: str | None = None,
                  **metadata: Any) -> Iterator[T]:
        """Register ``obj`` as ``name`` inside a ``with`` block and remove it at the end,
        also when the block raises, so the table is as it was (a name already registered
        is refused as by :meth:`add`)::

            with SAMPLERS.temporary("my_sampler", my_sampler, family="gaussian"):
                get_sampler("my_sampler")
        """
        self.add(name, obj, family=family, **metadata)
        try:
            yield obj
        finally:
            self._entries.pop(name, None)

    def register(self, name: str | None = None, *, family: str | None = None,
                 **metadata: Any) -> Callable[[T], T]:
        """Decorator form of :meth:`add` (the name defaults to the object's ``__name__``)."""
        def decorate(obj: T) -> T:
            return self.add(name or obj.__name__, obj, family=family, **metadata)
        return decorate

    # -- lookup -------------------------------------------------------------------------
    def entry(self, name: str) -> Entry[T]:
        """The entry registered as ``name``; ValueError with the valid choices otherwise."""
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise ValueError(f"unknown {self.kind} {name!r}{_suggest(name, self._entries)}; "
                             f"valid choices: {sorted(self._entries)}.") from None

    def get(self, name: str) -> T:  # type: ignore[override]
        """The object registered as ``name`` (unlike ``dict.get``, unknown names raise)."""
        return self.entry(name).obj

    def family(self, name: str) -> str | None:
        return self.entry(name).family

    def names(self, family: str | None = None) -> list[str]:
        """Sorted names, optionally only those of ``family``."""
        return sorted(n for n, e in self._entries.items() if family is None or e.family == family)

    def check_family(self, name: str, family: str | None, *, what: str = "") -> None:
        """Raise ``ValueError`` if entry ``name`` belongs to another family than
        ``family`` (entries without a family fit any)."""
        own = self.family(name)
        if own is not None and family is not None and own != family:
            raise ValueError(
                f"{self.kind} {name!r} is for {own} processes, but {what or 'the process'} "
                f"is {family}; {self.kind} entries for {family} processes: "
                f"{self.names(family)}.")

    def build(self, name: str, *args: Any, **options: Any) -> Any:
        """Call the entry ``name`` with ``args`` and keyword ``options``, after checking
        the option names against its signature (positional ``args`` are skipped)."""
        obj = self.get(name)
        check_options(f"{self.kind} {name!r}", obj, options, skip=len(args))
        return obj(*args, **options)

    # -- Mapping ------------------------------------------------------------------------
    def __getitem__(self, name: str) -> T:
        return self._entries[name].obj

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {sorted(self._entries)})"


__all__ = ["Entry", "Registry", "accepted_options", "check_options"]
