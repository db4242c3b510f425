"""Execute every notebook under notebooks/ (each asserts its own claims).

One test class per notebook: ``make test`` distributes by scope (``--dist loadscope``), and
a class is a scope, so the notebooks (about a minute each) spread over the workers instead
of running one after another in a single one. Select one with ``-k <notebook stem>``."""

import pathlib

import nbformat
from cpu_compile import xla_flags
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 2


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

    return type(f"TestNotebook_{path.stem}", (), {"test_notebook_runs": test_notebook_runs,
                                                   "__doc__": f"notebooks/{path.name}"})


for _path in NOTEBOOKS:
    globals()[f"TestNotebook_{_path.stem}"] = _notebook_class(_path)
