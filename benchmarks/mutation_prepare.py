"""Prepare a copy of a diffax module for mutation testing (``make mutation``).

mutmut 3.8.1 generates no mutants for decorated functions, and every sampler and inverse
solver is registered with ``@register(...)``: run on the library as it is, mutmut would
skip the update rules it exists to check. This rewrites the files of a *copy* (never the
repository's own ``diffax/``): each top-level function's registering decorators (calls of a
name that starts with ``register``: ``@register(...)``, ``@register_variants(...)``) are
removed and re-applied as plain calls after the function's definition,

    @register("a", order=2)          def f(...): ...
    @register("b", order=3)    ->    f = register("b", order=3)(f)   # the inner one first
    def f(...): ...                  f = register("a", order=2)(f)

which registers the same objects under the same names, in the same order (a decorator
list applies from the bottom up). The calls follow the function directly, so what the
module defines later sees the registry as before. Other decorators are left alone.

Usage: ``python -m benchmarks.mutation_prepare FILE [FILE ...]`` (rewrites in place).
"""

from __future__ import annotations

import argparse
import ast

DECORATOR_PREFIX = "register"


def _is_register(node: ast.expr) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            and node.func.id.startswith(DECORATOR_PREFIX))


def undecorate(source: str) -> str:
    """``source`` with the top-level functions' registering decorators turned into calls
    after each function (module docstring). Raises ValueError if a function mixes them
    with other decorators (the order of application would change)."""
    tree = ast.parse(source)
    lines = source.split("\n")
    edits = []  # (first decorator line, last decorator line, line after the def, calls)
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        regs = [d for d in node.decorator_list if _is_register(d)]
        if not regs:
            continue
        if len(regs) != len(node.decorator_list):
            raise ValueError(f"mutation_prepare: {node.name} (line {node.lineno}) mixes "
                             "@register with other decorators; rewrite it by hand.")
        calls = [f"{node.name} = {ast.get_source_segment(source, d)}({node.name})"
                 for d in reversed(regs)]
        first = regs[0].lineno - 1            # 0-based line of the '@'
        last = node.lineno - 2                # the line before 'def'
        edits.append((first, last, node.end_lineno, calls))
    for first, last, end, calls in reversed(edits):
        lines[end:end] = calls
        del lines[first:last + 1]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+")
    for path in parser.parse_args(argv).files:
        with open(path) as f:
            source = f.read()
        new = undecorate(source)
        if new != source:
            with open(path, "w") as f:
                f.write(new)


if __name__ == "__main__":
    main()
