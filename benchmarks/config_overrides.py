"""``key=value`` overrides of an ml_collections config for the benchmark scripts (the
runner's command line takes ``--config.key=value`` through absl instead)."""

from __future__ import annotations

import ast
from typing import Iterable

import ml_collections


def apply_overrides(config: ml_collections.ConfigDict, items: Iterable[str]
                    ) -> ml_collections.ConfigDict:
    """Set each ``"a.b.c=value"`` of ``items`` in ``config`` (in place; returned).
    ``value`` is read as a Python literal where it is one (``0.5``, ``(10, 20)``,
    ``'mean'``), else kept as a string; an unknown key is an error naming the valid ones."""
    for item in items:
        if "=" not in item:
            raise ValueError(f"override {item!r}: expected key=value, e.g. task.scaling=mean.")
        key, text = item.split("=", 1)
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        *path, leaf = key.split(".")
        section = config
        for i, name in enumerate(path):
            if name not in section:
                raise ValueError(f"override {item!r}: config has no "
                                 f"{'.'.join(path[:i + 1])!r}; valid keys there: "
                                 f"{sorted(section.keys())}.")
            section = section[name]
        if leaf not in section:
            raise ValueError(f"override {item!r}: config has no {key!r}; valid keys there: "
                             f"{sorted(section.keys())}.")
        section[leaf] = value
    return config
