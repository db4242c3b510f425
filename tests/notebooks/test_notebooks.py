"""Execute every notebook under notebooks/ (each asserts its own claims).

One test class per notebook: pytest-xdist distributes by scope (``--dist loadscope``), and
a class is a scope, so the notebooks (up to a minute each) spread over the workers instead
of running one after another in a single one. Select one with ``-k <notebook stem>``.
``make test`` runs the notebooks of ``IN_MAKE_TEST``; ``make test-slow`` runs the others."""

import pathlib

import nbformat
import pytest
from cpu_compile import xla_flags
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
# `make test` executes this one (9 s), so the harness and the package's notebook-facing API
# are checked on every change; the others (15-60 s each) are slow tests (`make test-slow`)
IN_MAKE_TEST = {"gaussian_pf_ode_structure"}


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2
    assert IN_MAKE_TEST <= {p.stem for p in NOTEBOOKS}


def _execute(path: pathlib.Path, monkeypatch) -> None:
    # the kernel inherits this environment: the repo on the path, plain CPU jax (one
    # device, and the cheaper compile of cpu_compile.py)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    monkeypatch.setenv("XLA_FLAGS", xla_flags())
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(ROOT)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]


def _notebook_class(path: pathlib.Path) -> type:
    def test_notebook_runs(self, monkeypatch):
        _execute(path, monkeypatch)

    if path.stem not in IN_MAKE_TEST:
        test_notebook_runs = pytest.mark.slow(test_notebook_runs)

    return type(f"TestNotebook_{path.stem}", (), {"test_notebook_runs": test_notebook_runs,
                                                   "__doc__": f"notebooks/{path.name}"})


for _path in NOTEBOOKS:
    globals()[f"TestNotebook_{_path.stem}"] = _notebook_class(_path)
