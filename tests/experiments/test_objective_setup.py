"""config.objective in the runner (experiments.objective_setup): options filtered by the
objective's signature, a teacher restored from another run (consistency distillation),
students initialised from it (progressive distillation), a coupling file (reflow), and
the errors of bad combinations. A 2-D toy teacher trained for a few steps."""

import jax
import numpy as np
import pytest

from configs.toy import gmm2d
from diffax import training
from experiments import objective_setup, runner


def toy(n_steps=16):
    c = gmm2d.get_config()
    c.data.batch_size = 64
    c.model.kwargs = dict(hidden=32, depth=2, time_scale=1000.0)
    c.training.n_steps = n_steps
    c.training.log_every = 8
    c.training.ckpt_every = 8
    c.training.sample_every = 0
    c.training.progress = False
    return c


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("teacher"))
    runner.train(toy(), workdir)
    return workdir


def _leaves(tree):
    return [np.asarray(a) for a in jax.tree.leaves(jax.device_get(tree))]


def test_saved_config_round_trips(teacher_dir):
    c = objective_setup.load_run_config(teacher_dir)
    assert c.model.kwargs.hidden == 32 and c.eval.samplers == ("dpm_solver++_2m", "euler")


def test_progressive_distillation_starts_as_the_teacher(teacher_dir, tmp_path):
    c = toy(4)
    c.objective.name = "progressive_distillation"
    c.objective.teacher_workdir = teacher_dir
    c.objective.init_from_teacher = True
    c.objective.kwargs = dict(student_steps=2)
    teacher = objective_setup.restore_teacher(teacher_dir)
    exp = runner.build(c)
    assert exp.objective.student_steps == 2 and exp.kind == "eps"
    _, params, _ = training.create_train_state(
        exp.network, runner._optimizer(c)[0], seed=0, objective=exp.objective)[1].params, \
        None, None
    for a, b in zip(_leaves(params), _leaves(teacher.params)):
        np.testing.assert_array_equal(a, b)
    state = runner.train(c, str(tmp_path))
    assert int(state.step) == 4
    for a, b in zip(_leaves(state.aux["teacher"]), _leaves(teacher.params)):
        np.testing.assert_array_equal(a, b)  # the frozen teacher stays the teacher


def test_consistency_distillation_gets_the_teacher(teacher_dir, tmp_path):
    c = toy(4)
    c.objective.name = "consistency_distillation"
    c.objective.teacher_workdir = teacher_dir
    c.objective.kwargs = dict(sampler="euler", num_levels=6)
    c.sampling.sampler = "consistency"
    teacher = objective_setup.restore_teacher(teacher_dir)
    exp = runner.build(c)
    assert exp.objective.teacher_prediction == "eps" and exp.kind == "x0"
    x = np.random.default_rng(0).normal(size=(8, 2)).astype(np.float32)
    t = np.full((8,), 0.5, np.float32)
    # the teacher callable is the teacher run's own model
    t_exp, graphdef, t_state = runner.restore(objective_setup.load_run_config(teacher_dir),
                                              teacher_dir)
    apply = training.network_apply(graphdef)
    want = t_exp.model_fn(lambda x_, c_, **kw: apply(training.eval_params(t_state),
                                                     t_state.buffers, x_, c_, **kw))(x, t)
    got = exp.objective.teacher(teacher.params, x, t)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-6, atol=1e-6)
    state = runner.train(c, str(tmp_path))
    assert np.isfinite(training.read_metrics(str(tmp_path))[-1]["loss"])
    for a, b in zip(_leaves(state.aux["teacher"]), _leaves(teacher.params)):
        np.testing.assert_array_equal(a, b)


def test_reflow_reads_a_coupling_file(tmp_path):
    noise = np.random.default_rng(1).normal(size=(32, 2)).astype(np.float32)
    path = str(tmp_path / "coupling.npz")
    np.savez(path, noise=noise, data=2 * noise)
    c = toy()
    c.process.name = "rectified_flow"
    c.model.parameterization = "velocity"
    c.objective.name = "reflow"
    c.objective.coupling_file = path
    exp = runner.build(c)
    np.testing.assert_array_equal(np.asarray(exp.objective.coupling.data), 2 * noise)


def test_ot_cfm_builds_without_the_shared_loss_options():
    c = toy()
    c.process.name = "rectified_flow"
    c.model.parameterization = "velocity"
    c.loss.kwargs = dict(time_sampling="uniform")  # no loss name/parameterization passed
    c.objective.name = "ot_cfm"
    assert runner.build(c).kind == "velocity"


@pytest.mark.parametrize("case", ["no_workdir", "no_teacher_arg", "other_network",
                                  "bad_kwarg"])
def test_bad_objective_configs(case, teacher_dir):
    c = toy()
    if case == "no_workdir":
        c.objective.name, c.objective.init_from_teacher = "progressive_distillation", True
        c.objective.kwargs = dict(student_steps=2)
        match = "teacher_workdir"
    elif case == "no_teacher_arg":
        c.objective.teacher_workdir = teacher_dir
        match = "init_from_teacher"
    elif case == "other_network":
        c.objective.teacher_workdir, c.objective.init_from_teacher = teacher_dir, True
        c.model.kwargs = dict(hidden=16, depth=2, time_scale=1000.0)
        match = "does not match"
    else:
        c.objective.name = "ot_cfm"
        c.process.name = "rectified_flow"
        c.loss.kwargs = dict(time_sampling="uniform")
        c.objective.kwargs = dict(student_steps=2)
        match = "student_steps"
    with pytest.raises(ValueError, match=match):
        runner.build(c)


def test_a_teacher_is_restored_again_only_when_its_run_changed(tmp_path, monkeypatch,
                                                                request):
    """restore_teacher keeps the last two teachers: a chain of students restores its
    teacher once; a new checkpoint or a new config.json of the run restores it again."""
    calls = []
    objective_setup._kept_teacher.cache_clear()   # this test's own teachers only
    request.addfinalizer(objective_setup._kept_teacher.cache_clear)
    monkeypatch.setattr(objective_setup, "_restore_teacher", lambda w: calls.append(w) or
                        object())
    runs = [tmp_path / name for name in ("a", "b", "c")]
    for run in runs:
        (run / "checkpoints" / "8").mkdir(parents=True)
        (run / "config.json").write_text("{}")
    a, b, c = (str(r) for r in runs)
    first = objective_setup.restore_teacher(a)
    assert objective_setup.restore_teacher(a) is first and calls == [a]
    (runs[0] / "checkpoints" / "16.orbax-checkpoint-tmp-1").mkdir()   # being written
    assert objective_setup.restore_teacher(a) is first
    (runs[0] / "checkpoints" / "16").mkdir()                    # trained further
    assert objective_setup.restore_teacher(a) is not first and calls == [a, a]
    (runs[0] / "config.json").write_text('{"seed": 1}')         # retrained otherwise
    objective_setup.restore_teacher(a)
    objective_setup.restore_teacher(b)
    objective_setup.restore_teacher(a)                          # kept: one of the last two
    assert calls == [a, a, a, b]
    objective_setup.restore_teacher(c)                          # b is now the oldest kept
    objective_setup.restore_teacher(a)
    objective_setup.restore_teacher(b)
    assert calls == [a, a, a, b, c, b]


def test_the_kept_teacher_is_the_restored_one(teacher_dir):
    kept = objective_setup.restore_teacher(teacher_dir)
    assert objective_setup.restore_teacher(teacher_dir) is kept
    fresh = objective_setup._restore_teacher(teacher_dir)
    for a, b in zip(_leaves(kept.params), _leaves(fresh.params), strict=True):
        np.testing.assert_array_equal(a, b)
    assert (kept.kind, kept.config.to_dict()) == (fresh.kind, fresh.config.to_dict())
