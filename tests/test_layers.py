"""The layers of docs/architecture.md, enforced: no import runs back up.

Each rule names a package and the packages it must not import (at any depth, including
imports inside functions). A violation names the file, the line and the import.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# package (path prefix) -> modules it must never import (prefixes)
RULES = {
    "diffax": ("experiments", "configs", "benchmarks", "tests"),
    "diffax/training": ("diffax.processes", "diffax.samplers", "diffax.losses",
                        "diffax.predictions", "diffax.parameterization", "diffax.objectives",
                        "diffax.guidance", "diffax.inverse", "diffax.likelihood",
                        "diffax.analytic", "diffax.nn", "diffax.data"),
    "diffax/processes": ("diffax.samplers", "diffax.losses", "diffax.training",
                         "diffax.objectives", "diffax.guidance", "diffax.inverse",
                         "diffax.likelihood", "diffax.nn", "diffax.data"),
    "diffax/predictions.py": ("diffax.samplers", "diffax.losses", "diffax.training",
                              "diffax.objectives"),
    "diffax/losses": ("diffax.samplers", "diffax.training", "diffax.objectives",
                      "diffax.inverse", "diffax.nn"),
    "diffax/samplers": ("diffax.losses", "diffax.training", "diffax.objectives",
                        "diffax.inverse", "diffax.nn", "diffax.data"),
    # objectives sit above the samplers (a teacher's ODE step, generated couplings)
    "diffax/objectives": ("diffax.inverse", "diffax.nn", "diffax.data"),
    "diffax/registry.py": ("diffax.",),
}


def imports(path: pathlib.Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # "from diffax import losses" imports diffax.losses
                yield node.lineno, f"{node.module}.{alias.name}"


def files(prefix: str):
    p = ROOT / prefix
    return [p] if p.suffix == ".py" else sorted(p.rglob("*.py"))


@pytest.mark.parametrize("package", sorted(RULES))
def test_no_import_runs_back_up(package):
    banned = RULES[package]
    bad = [f"{f.relative_to(ROOT)}:{line} imports {name}"
           for f in files(package) for line, name in imports(f)
           if any(name == b.rstrip(".") or name.startswith(b.rstrip(".") + ".") or
                  (b.endswith(".") and name.startswith(b)) for b in banned)]
    assert not bad, f"{package} must not import {banned}:\n" + "\n".join(bad)
