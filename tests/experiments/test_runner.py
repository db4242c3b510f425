"""The experiment layer end to end on the 2-D toy config: train (with resume), sample,
evaluate, and bad configs; samples are checked against the exact data distribution."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs.toy import gmm2d
from diffax.data import get_dataset
from diffax.metrics import sliced_wasserstein
from experiments import runner


def small_config(n_steps=600):
    c = gmm2d.get_config()
    c.training.n_steps = n_steps
    c.training.log_every = 100
    c.training.ckpt_every = 200
    c.training.sample_every = 200
    c.training.progress = False
    c.sampling.num_samples = 1024
    c.sampling.grid_size = 1024
    c.eval.num_samples = 1024
    c.eval.num_batches = 2
    c.eval.samplers = ("dpm_solver++_2m",)
    c.eval.nfes = (20,)
    c.eval.likelihood_num_examples = 256
    return c


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("gmm"))
    config = small_config(200)
    runner.train(config, workdir)
    config.training.n_steps = 400  # a second call resumes from step 200
    runner.train(config, workdir)
    state = runner.train(config, workdir)  # a third finds nothing to train
    return config, workdir, state


def test_train_resumes_and_writes_outputs(trained):
    config, workdir, state = trained
    assert int(state.step) == 400
    summary = json.load(open(os.path.join(workdir, "train_summary.json")))
    # the summary is the second call's: the third trained nothing and keeps it
    assert summary["resumed_from"] == 200 and summary["steps"] == 400
    assert summary["wall_s"] > 0.1
    records = [json.loads(line) for line in open(os.path.join(workdir, "metrics.jsonl"))]
    assert [r["step"] for r in records] == [100, 200, 300, 400]
    assert records[-1]["loss"] < 0.7 * records[0]["loss"]
    assert os.path.exists(os.path.join(workdir, "samples", "step_0000400.png"))
    assert any(f.startswith("events") for f in os.listdir(os.path.join(workdir, "tensorboard")))
    assert sorted(os.listdir(os.path.join(workdir, "checkpoints"))) == ["200", "400"]


def test_samples_match_the_data_distribution(trained):
    config, workdir, _ = trained
    x = runner.sample(config, workdir, num_samples=1024)
    mixture = get_dataset(config.data.name, split="test").mixture
    ref = np.asarray(mixture.sample(jax.random.PRNGKey(123), 1024))  # exact data samples
    key = jax.random.PRNGKey(0)
    sw = float(sliced_wasserstein(key, jnp.asarray(x), jnp.asarray(ref)))
    noise = np.random.default_rng(0).normal(size=x.shape) * ref.std(0) + ref.mean(0)
    sw_gaussian = float(sliced_wasserstein(key, jnp.asarray(noise), jnp.asarray(ref)))
    # the trained model is far closer to the data than a moment-matched Gaussian
    assert sw < 0.45 * sw_gaussian, (sw, sw_gaussian)


def test_evaluate_writes_metrics(trained):
    config, workdir, _ = trained
    results = runner.evaluate(config, workdir)
    on_disk = json.load(open(os.path.join(workdir, "metrics.json")))
    assert on_disk["step"] == 400 and on_disk["test_loss"] == pytest.approx(results["test_loss"])
    (entry,) = on_disk["samples"]
    assert entry["sampler"] == "dpm_solver++_2m" and entry["nfe"] == 20
    assert entry["features"] == "pixels"
    assert 0 < entry["sliced_w2"] < 0.5 and 0 < entry["fd"] < 0.1 and abs(entry["kid"]) < 0.5
    assert entry["precision"] > 0.6 and entry["recall"] > 0.6
    # PF-ODE NLL of held-out data (exact trace) against the data's exact NLL: the model's
    # cross-entropy is the entropy plus a KL >= 0, and the model is a decent fit
    ll = on_disk["likelihood"]
    assert ll["divergence"] == "exact" and ll["num_examples"] == 256
    assert ll["exact_data_nll_nats"] - 0.05 < ll["nll_nats"] < ll["exact_data_nll_nats"] + 0.5


def test_evaluate_runs_adaptive_samplers_once_and_records_the_nfe_spent(trained):
    """An adaptive sampler chooses its own steps: evaluate runs it once whatever
    eval.nfes lists, and records the NFE it spent (that of the same sampling call), while
    a fixed-step sampler runs once per budget."""
    import copy

    config, workdir, _ = trained
    config = copy.deepcopy(config)
    config.eval.samplers = ("dpm_solver_adaptive_12", "euler")
    config.eval.nfes = (8, 16)
    config.eval.metrics = ("sliced_w2",)
    config.eval.likelihood_num_examples = 0
    entries = runner.evaluate(config, workdir)["samples"]
    assert [(e["sampler"], e["nfe"], e.get("adaptive", False)) for e in entries][1:] == [
        ("euler", 8, False), ("euler", 16, False)]
    adaptive = entries[0]
    assert adaptive["sampler"] == "dpm_solver_adaptive_12" and adaptive["adaptive"]
    exp, graphdef, state = runner.restore(config, workdir)
    fn = runner.make_sample_fn(exp, graphdef, num_samples=config.eval.num_samples,
                               sampler="dpm_solver_adaptive_12", with_nfe=True)
    _, spent = fn(state.buffers, runner.training.eval_params(state, config.sampling.params),
                  jax.random.PRNGKey(config.sampling.seed))
    assert adaptive["nfe"] == int(np.max(spent)) and adaptive["nfe"] % 2 == 0
    assert adaptive["sliced_w2"] < 0.5
    # keep_states: the sampler's last k states, the final one the sample of the same key
    params = runner.training.eval_params(state, config.sampling.params)
    key = jax.random.PRNGKey(config.sampling.seed)
    kw = dict(num_samples=16, sampler="euler", nfe=8)
    final = runner.make_sample_fn(exp, graphdef, **kw)(state.buffers, params, key)
    states = runner.make_sample_fn(exp, graphdef, keep_states=3, **kw)(state.buffers, params,
                                                                       key)
    assert states.shape == (3, *final.shape)
    np.testing.assert_allclose(states[-1], final, rtol=1e-5, atol=1e-6)
    assert np.abs(states[0] - final).mean() > 10 * np.abs(states[-1] - final).mean()
    with pytest.raises(ValueError, match="adaptive"):
        runner.make_sample_fn(exp, graphdef, keep_states=2, num_samples=16,
                              sampler="dpm_solver_adaptive_12")
    with pytest.raises(ValueError, match="at most 9 states"):
        runner.make_sample_fn(exp, graphdef, keep_states=10, **kw)


@pytest.mark.parametrize("field, value, match", [
    ("sampling.sampler", "nope", "valid choices|choose one of"),
    ("training.compute_dtype", "float16", "compute_dtype"),
    ("training.n_steps", 0, "training.n_steps"),
    ("model.parameterization", "noise", "model.parameterization"),
    ("data.name", "imagenet", "valid"),
    ("process.name", "vpp", "valid choices"),
    ("sampling.sampler_kwargs", {"etta": 1.0}, r"unknown option\(s\) \['etta'\]"),
    ("optim.learning_rate", float("nan"), r"optim.learning_rate=nan .*NaN"),
    ("optim.learning_rate", -1e-3, r"optim.learning_rate=-0.001 .*> 0"),
    ("optim.learning_rate", float("inf"), r"optim.learning_rate=inf .*finite"),
    ("optim.grad_clip", float("inf"), r"optim.grad_clip=inf .*finite"),
    ("optim.warmup_steps", -5, r"optim.warmup_steps=-5 .*>= 0"),
    ("optim.final_lr_fraction", 1.5, r"optim.final_lr_fraction=1.5 .*\[0, 1\]"),
])
def test_bad_config_values_are_named(field, value, match, tmp_path):
    c = small_config()
    section, key = field.split(".")
    c[section][key] = value
    with pytest.raises(ValueError, match=match):
        runner.train(c, str(tmp_path))
