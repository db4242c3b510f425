"""Build ``config.objective`` for the runner: the options an objective takes from the
config, a frozen teacher restored from another run, and a student initialised from it.

Config fields (``config.objective``; all optional except ``name``):

* ``name``: a ``diffax.objectives`` registry name (``denoising``, ``ot_cfm``,
  ``consistency_distillation``, ``progressive_distillation``, ``reflow``, ...).
* ``kwargs``: options of that objective (checked against its signature), e.g.
  ``student_steps`` of progressive distillation or ``num_levels`` of CD.
* ``teacher_workdir``: a trained run (its ``config.json`` and checkpoints). Its EMA
  network becomes the teacher: objectives with a ``teacher`` argument (consistency
  distillation) get ``teacher(teacher_params, x, t, **cond)``, its parameters (kept in
  ``TrainState.aux``) and its prediction kind.
* ``init_from_teacher``: start the student's network (same architecture) from the
  teacher's EMA parameters (CM and progressive distillation do; progressive
  distillation's ``init`` then copies them as its teacher).
* ``init_workdir``: start the student's network from the EMA parameters of this other
  trained run (same architecture) while the teacher stays ``teacher_workdir``'s: the
  stages of Hyper-SD's segmented distillation, each initialised from the previous
  stage's student and distilling the same teacher. Excludes ``init_from_teacher``.
* ``coupling_file``: an ``.npz`` with ``noise`` and ``data`` arrays (N, ...), the
  coupling of ``reflow`` in buffer mode (e.g. written from a teacher by
  ``diffax.objectives.reflow.generate_coupling``).

The shared model and loss options (``loss``, ``loss_kwargs``, ``parameterization``,
``time_input``, ``sigma_data``) are passed only to objectives whose signature names
them: ``ot_cfm`` fixes its own parameterization, for example.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import io
import json
from typing import Any, Callable

import ml_collections
import numpy as np
from flax import nnx

from diffax import filesystem as fs
from diffax import objectives
from diffax.processes import GaussianProcess


@dataclasses.dataclass(frozen=True)
class Teacher:
    """A frozen network of a trained run: ``fn(params, x, t, **cond)`` predicts ``kind``
    on ``process``; ``params`` are its EMA parameters (host arrays), ``buffers`` its
    non-trainable state."""

    fn: Callable
    params: Any
    buffers: Any
    kind: str
    process: GaussianProcess
    config: ml_collections.ConfigDict


def load_run_config(workdir: str) -> ml_collections.ConfigDict:
    """The config a run was trained with (``workdir/config.json``, written by
    ``runner.train``), with lists turned back into tuples."""
    path = fs.join(workdir, "config.json")
    if not fs.exists(path):
        raise FileNotFoundError(f"objective.teacher_workdir={workdir!r}: no {path}; train the "
                                f"teacher first (--mode=train --workdir={workdir}).")
    raw = json.loads(fs.read_text(path))

    def tuples(v):
        if isinstance(v, dict):
            return {k: tuples(x) for k, x in v.items()}
        if isinstance(v, list):
            return tuple(tuples(x) for x in v)
        return v

    return ml_collections.ConfigDict(tuples(raw))


def _checkpoint_names(workdir: str) -> tuple[str, ...]:
    """The finished checkpoint steps of a run (orbax renames a step's temporary folder to
    its number once written), the same on every host."""
    directory = fs.as_path(fs.join(workdir, "checkpoints"))
    if not directory.exists():
        return ()
    return tuple(sorted(p.name for p in directory.iterdir() if p.name.isdigit()))


def restore_teacher(workdir: str) -> Teacher:
    """The EMA network of the run in ``workdir`` as a :class:`Teacher`.

    A chain of runs restores the same teacher many times (every student's training, and
    its evaluation, builds the objective); the last two are kept and returned again while
    the run's ``config.json`` and the names of its checkpoints are unchanged (a checkpoint
    step, once written, is not rewritten)."""
    config_path = fs.join(workdir, "config.json")
    config_text = fs.read_text(config_path) if fs.exists(config_path) else ""
    return _kept_teacher(workdir, config_text, _checkpoint_names(workdir))


@functools.lru_cache(maxsize=2)
def _kept_teacher(workdir: str, config_text: str, steps: tuple[str, ...]) -> Teacher:
    """The teacher of ``workdir`` while its config text and finished steps stay these."""
    return _restore_teacher(workdir)


def _restore_teacher(workdir: str) -> Teacher:
    import jax

    from diffax import training
    from experiments import runner

    config = load_run_config(workdir)
    exp, graphdef, state = runner.restore(config, workdir)
    params = jax.device_get(training.eval_params(state, config.sampling.params))
    buffers = jax.device_get(state.buffers)
    apply = training.network_apply(graphdef)

    def fn(p, x, t, **cond):
        return exp.model_fn(lambda x_, c, **kw: apply(p, buffers, x_, c, **kw))(x, t, **cond)

    return Teacher(fn, params, buffers, exp.kind, exp.process, config)


def _named_parameters(fn: Callable) -> set[str]:
    return {n for n, p in inspect.signature(fn).parameters.items()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def build_objective(config: ml_collections.ConfigDict, process: GaussianProcess,
                    network: nnx.Module) -> Any:
    """The objective of ``config.objective`` on ``process`` (module docstring); with
    ``init_from_teacher`` (``init_workdir``) the ``network`` is updated in place to the
    teacher's (that run's) EMA parameters before the train state is created from it."""
    o = config.get("objective", ml_collections.ConfigDict())
    name = o.get("name", "denoising")
    fn = objectives.OBJECTIVES.get(name)
    accepted = _named_parameters(fn)
    m = config.model
    shared = dict(loss=config.loss.name, loss_kwargs=dict(config.loss.kwargs),
                  parameterization=m.parameterization, time_input=m.time_input,
                  sigma_data=m.sigma_data)
    options = {k: v for k, v in shared.items() if k in accepted}
    options.update(dict(o.get("kwargs", {})))
    teacher_workdir = o.get("teacher_workdir", "")
    if o.get("init_from_teacher", False) and not teacher_workdir:
        raise ValueError("objective.init_from_teacher=True needs objective.teacher_workdir "
                         "(a trained run); got ''.")
    init_workdir = o.get("init_workdir", "")
    if init_workdir and o.get("init_from_teacher", False):
        raise ValueError(f"objective.init_workdir={init_workdir!r} and "
                         f"objective.init_from_teacher=True both set the student's starting "
                         f"parameters; keep one.")
    if teacher_workdir:
        teacher = restore_teacher(teacher_workdir)
        if "teacher" in accepted:
            options.update(teacher=teacher.fn, teacher_params=teacher.params,
                           teacher_prediction=teacher.kind)
        elif not o.get("init_from_teacher", False):
            raise ValueError(f"objective {name!r} takes no teacher argument; with "
                             f"objective.teacher_workdir set, also set "
                             f"objective.init_from_teacher=True (the student starts as the "
                             f"teacher) or choose an objective with a teacher, e.g. "
                             f"'consistency_distillation'.")
        if o.get("init_from_teacher", False):
            _load_params(network, teacher, teacher_workdir)
    if init_workdir:
        _load_params(network, restore_teacher(init_workdir), init_workdir)
    coupling_file = o.get("coupling_file", "")
    if coupling_file:
        if "coupling" not in accepted:
            raise ValueError(f"objective.coupling_file={coupling_file!r}: objective {name!r} "
                             f"takes no coupling; choose 'reflow'.")
        z = np.load(io.BytesIO(fs.read_bytes(coupling_file)))
        options["coupling"] = objectives.reflow.Coupling(z["noise"], z["data"])
    return objectives.get_objective(name, process, **options)


def _load_params(network: nnx.Module, teacher: Teacher, workdir: str) -> None:
    _, params, buffers = nnx.split(network, nnx.Param, ...)
    import jax

    mine = jax.tree.map(lambda a: (a.shape, a.dtype), params)
    theirs = jax.tree.map(lambda a: (a.shape, a.dtype), teacher.params)
    if jax.tree.structure(mine) != jax.tree.structure(theirs) or jax.tree.leaves(
            mine) != jax.tree.leaves(theirs):
        raise ValueError(f"objective.init_from_teacher: the network of config.model "
                         f"({type(network).__name__}) does not match the teacher's in "
                         f"{workdir!r}; use the teacher's model section.")
    nnx.update(network, teacher.params, teacher.buffers)


__all__ = ["Teacher", "build_objective", "load_run_config", "restore_teacher"]
