"""Train, sample and evaluate a diffusion model from an ml_collections config.

The same three entry points serve the command line (``experiments/main.py``) and
notebooks::

    from configs.toy import gmm2d
    from experiments import runner
    config = gmm2d.get_config()
    config.training.n_steps = 500
    state = runner.train(config, "runs/gmm")
    samples = runner.sample(config, "runs/gmm")

``build`` wires the library together: a process (``diffax.processes``), a dataset
pipeline (``diffax.data``), a flax.nnx network (``diffax.nn``), its parameterization as a
``model_fn`` and a loss, together the training objective (``diffax.objectives``), and a
sampler (``diffax.samplers``). Nothing here knows solver or loss internals.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Any, Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from diffax import data as ddata
from diffax import filesystem as fs
from diffax import checks, nn, training
from diffax.processes import GaussianProcess, get_process
from diffax.training import host_arrays
from experiments.config_checks import COMPUTE_DTYPES, validate_config
from experiments.data_spec import check_data_spec, data_spec
from experiments.objective_setup import build_objective
from experiments.placement import place_state, train_mesh
from experiments.sampling import data_reference, make_sample_fn
from experiments.tasks import ElementSpec, Task, get_task



def load_config(path: str) -> ml_collections.ConfigDict:
    """``get_config()`` of a config file, e.g. ``load_config("configs/toy/gmm2d.py")``
    (paths relative to the repository root, or a module name ``configs.toy.gmm2d``)."""
    import importlib
    module = path[:-3].replace(os.sep, ".") if path.endswith(".py") else path
    try:
        return importlib.import_module(module).get_config()
    except ModuleNotFoundError as e:
        raise ValueError(f"cannot load config {path!r} ({e}); pass a file under configs/, "
                         f"e.g. configs/image/fashion_mnist_edm.py.") from e


@dataclasses.dataclass
class Experiment:
    """Everything ``build`` derives from a config."""

    config: ml_collections.ConfigDict
    process: GaussianProcess
    dataset: Any
    pipeline: Any
    network: nnx.Module
    objective: Any
    task: Task
    spec: ElementSpec

    @property
    def data_shape(self) -> tuple[int, ...]:
        return self.spec.data_shape

    @property
    def num_classes(self) -> int | None:
        return self.spec.num_classes

    @property
    def kind(self) -> str:
        """The prediction kind of the trained model, as samplers are told."""
        return self.objective.kind

    def batch(self, step: int) -> dict:
        """This host's rows at ``step``: the generated key and every conditioning key of
        the task's spec (each reaches the network as a keyword)."""
        return self._select(self.task.to_model(self.pipeline.batch(step)))

    def examples(self, indices: np.ndarray) -> dict:
        """The examples at dataset ``indices`` in order, as :meth:`batch` gives them (no
        augmentation): evaluation over a whole split."""
        return self._select(self.task.to_model(self.pipeline.examples(indices)))

    def _select(self, b: dict) -> dict:
        return {"x": b[self.spec.data], **{k: b[k] for k in self.spec.condition}}

    def model_fn(self, net: Callable) -> Callable:
        """The diffusion model (prediction ``self.kind``) of a network ``net(x, c, **cond)``."""
        return self.objective.model_fn(net)


def build(config: ml_collections.ConfigDict, *, split: str = "train") -> Experiment:
    """Construct the process, data, network and loss of ``config`` (validated first)."""
    validate_config(config)
    process = get_process(config.process.name, **dict(config.process.kwargs))
    task = get_task(config.task.name, config)
    dataset = task.dataset(config, split)
    batch_size = config.data.batch_size
    if split != "train":  # a small held-out split is evaluated in smaller batches
        batch_size = min(batch_size, dataset.num_examples // jax.process_count()
                         * jax.process_count()) or batch_size
    pipeline = ddata.make_pipeline(
        dataset, batch_size, config.seed, process_index=jax.process_index(),
        process_count=jax.process_count(), flip=config.data.flip,
        dequantize=config.data.dequantize)
    spec = task.spec(config, dataset, task.to_model(pipeline.batch(0)))
    network = nn.get_network(config.model.name, **task.network_kwargs(config, spec),
                             rngs=nnx.Rngs(config.seed))
    # config.objective: name, kwargs, a teacher run, a coupling (experiments.objective_setup)
    objective = build_objective(config, process, network)
    return Experiment(config, process, dataset, pipeline, network, objective, task, spec)


# ---- training ---------------------------------------------------------------------------

def _optimizer(config: ml_collections.ConfigDict):
    o = config.optim
    return training.make_optimizer(
        o.learning_rate, num_steps=config.training.n_steps, optimizer=o.optimizer,
        warmup_steps=o.warmup_steps, schedule=o.schedule, final_lr_fraction=o.final_lr_fraction,
        grad_clip=o.grad_clip, weight_decay=o.weight_decay)


def _initial_state(exp: Experiment, tx):
    return training.create_train_state(exp.network, tx, seed=exp.config.seed,
                                       ema_decays=tuple(exp.config.training.ema_decays),
                                       objective=exp.objective)


def jitted_train_step(exp: Experiment, graphdef: nnx.GraphDef, tx, lr_schedule,
                      mesh: jax.sharding.Mesh, state_shardings: Any = None) -> Callable:
    """The sharded, jitted train step of ``exp`` as its config defines it; the state stays
    on ``state_shardings`` (default: replicated)."""
    t = exp.config.training
    step_fn = training.make_train_step(
        graphdef, exp.objective, tx, ema_decays=tuple(t.ema_decays), nonfinite=t.nonfinite,
        compute_dtype=COMPUTE_DTYPES[t.compute_dtype], lr_schedule=lr_schedule,
        batch_transform=exp.task.batch_transform(exp.config, exp.spec, train=True),
        grad_accum_steps=t.get("grad_accum_steps", 1))
    return training.jit_train_step(step_fn, mesh, state_shardings)


def _checkpointer(config, workdir: str) -> training.Checkpointer:
    t = config.training
    return training.Checkpointer(fs.join(workdir, "checkpoints"), save_every=t.ckpt_every,
                                 max_to_keep=t.keep_checkpoints)


def _write_json(path: str, payload: dict) -> None:
    if jax.process_index() == 0:
        fs.write_json(path, payload)


def _fit(exp: Experiment, config, workdir: str, graphdef, tx, lr_schedule, mesh, state,
         ckpt: training.Checkpointer, *, resume_step: int | None):
    """Run the training loop with logging and sample-grid hooks; (state, wall seconds)."""
    t = config.training
    shardings = jax.tree.map(lambda a: a.sharding, state)
    train_step = jitted_train_step(exp, graphdef, tx, lr_schedule, mesh, shardings)
    logger = training.MetricLogger(workdir, enabled=jax.process_index() == 0,
                                   resume_step=resume_step)
    hooks = []
    if t.sample_every > 0:
        sample_fn = make_sample_fn(exp, graphdef, num_samples=config.sampling.grid_size,
                                   mesh=mesh)

        def write_grid(step: int, st: training.TrainState) -> None:
            x = np.asarray(jax.device_get(sample_fn(st.buffers, training.eval_params(st),
                                                    jax.random.PRNGKey(config.seed))))
            if jax.process_index() != 0:
                return
            path = fs.join(workdir, "samples", f"step_{step:07d}.png")
            image = exp.task.pictures(x, path, reference=data_reference(exp, len(x)))
            if image is not None:
                logger.write_image(step, "samples", image)

        hooks.append(training.Hook(t.sample_every, write_grid))
    t0 = time.perf_counter()
    try:
        state = training.fit(state, train_step, exp.batch, mesh=mesh, num_steps=t.n_steps,
                             checkpointer=ckpt, logger=logger, log_every=t.log_every,
                             hooks=tuple(hooks), progress=t.progress,
                             profile_steps=tuple(t.get("profile_steps", ())),
                             profile_dir=fs.join(workdir, "profile"))
    finally:
        logger.close()
    return state, time.perf_counter() - t0


def train(config: ml_collections.ConfigDict, workdir: str) -> training.TrainState:
    """Train (resuming from ``workdir/checkpoints`` when a checkpoint exists); writes
    checkpoints, ``metrics.jsonl``, TensorBoard scalars, sample grids under
    ``workdir/samples/`` and a final ``workdir/train_summary.json``."""
    exp = build(config)
    check_data_spec(exp, workdir)
    _write_json(fs.join(workdir, "config.json"), json.loads(config.to_json_best_effort()))
    _write_json(fs.join(workdir, "data_spec.json"), data_spec(exp))
    print(f"[diffax] {config.model.name}: {nn.param_summary(exp.network)}", flush=True)
    print(f"[diffax] data {config.data.name}: {exp.dataset.num_examples} examples of shape "
          f"{exp.data_shape}, global batch {config.data.batch_size}, "
          f"{jax.device_count()} device(s) on {jax.process_count()} host(s)", flush=True)

    mesh = train_mesh(config)
    training.sharding.check_batch_size(config.data.batch_size, mesh)
    accum = config.training.get("grad_accum_steps", 1)
    checks.multiple_of("train", "data.batch_size", config.data.batch_size,
                       accum * mesh.devices.size,
                       factor_is=f"training.grad_accum_steps={accum} x {mesh.devices.size} "
                                 f"devices")
    tx, lr_schedule = _optimizer(config)
    graphdef, state = _initial_state(exp, tx)
    state = place_state(config, state, mesh)
    with _checkpointer(config, workdir) as ckpt:
        resumed = ckpt.latest_step() is not None
        if resumed:
            state = ckpt.restore(state)
            print(f"[diffax] resumed from step {int(state.step)} in {ckpt.directory}",
                  flush=True)
        start = int(jax.device_get(state.step))
        state, elapsed = _fit(exp, config, workdir, graphdef, tx, lr_schedule, mesh, state, ckpt,
                              resume_step=start if resumed else None)
    records = training.read_metrics(workdir)
    summary = fs.join(workdir, "train_summary.json")
    if int(state.step) == start and fs.exists(summary):
        return state  # nothing left to train: keep the summary of the run that trained
    _write_json(summary, {
        "steps": int(state.step), "resumed_from": start, "wall_s": elapsed,
        "steps_per_sec_incl_compile": (int(state.step) - start) / max(elapsed, 1e-9),
        "final_loss": records[-1]["loss"] if records else None,
        "num_params": nn.count_params(exp.network), "devices": jax.device_count(),
        "platform": jax.devices()[0].platform})
    return state


# ---- sampling ---------------------------------------------------------------------------

def restore(config: ml_collections.ConfigDict, workdir: str, step: int | None = None):
    """(experiment, graphdef, state) restored from ``workdir/checkpoints``, placed as
    training places it (:func:`place_state` on :func:`train_mesh`: FSDP-sharded parameters
    stay sharded for sampling and evaluation, which gather them where they are used)."""
    exp = build(config)
    check_data_spec(exp, workdir)
    tx, _ = _optimizer(config)
    graphdef, state = _initial_state(exp, tx)
    missing = FileNotFoundError(f"no checkpoint under {fs.join(workdir, 'checkpoints')}; train "
                                f"first (--mode=train --workdir={workdir}).")
    if not fs.exists(fs.join(workdir, "checkpoints")):
        raise missing  # before orbax starts creating the folder in a background thread
    with _checkpointer(config, workdir) as ckpt:
        if ckpt.latest_step() is None:
            raise missing
        state = ckpt.restore(place_state(config, state, train_mesh(config)), step)
    return exp, graphdef, state


def sample(config: ml_collections.ConfigDict, workdir: str, *, num_samples: int | None = None,
           sampler: str | None = None, nfe: int | None = None, step: int | None = None,
           params: str | None = None) -> np.ndarray:
    """Sample from the latest (or ``step``) checkpoint; writes a PNG and an .npz of the
    samples into ``workdir/samples`` and returns them."""
    s = config.sampling
    exp, graphdef, state = restore(config, workdir, step)
    own = exp.task.sample_mode(exp, graphdef, state, workdir)
    if own is not None:  # the task's network is not drawn by a sampler (Task.sample_mode)
        return own
    if exp.task.conditional:
        return _sample_conditional(exp, graphdef, state, workdir, sampler=sampler, nfe=nfe,
                                   params=params)
    n = num_samples or s.num_samples
    fn = make_sample_fn(exp, graphdef, num_samples=n, sampler=sampler, nfe=nfe,
                        mesh=host_arrays.mesh_of(state))  # split over the state's devices
    t0 = time.perf_counter()
    x = fn(state.buffers, training.eval_params(state, params or s.params),
           jax.random.PRNGKey(s.seed))  # NumPy, every sample on every host
    wall = time.perf_counter() - t0
    name = f"{sampler or s.sampler}_nfe{nfe or s.nfe}_step{int(state.step)}"
    out_dir = fs.join(workdir, "samples")
    if jax.process_index() == 0:
        fs.save_npz(fs.join(out_dir, name + ".npz"), x=x)
        exp.task.pictures(x[: s.grid_size], fs.join(out_dir, name + ".png"),
                          reference=data_reference(exp, min(n, s.grid_size)))
    print(f"[diffax] {n} samples with {name} in {wall:.1f} s (incl. compile) -> {out_dir}",
          flush=True)
    return x


def _sample_conditional(exp: Experiment, graphdef, state, workdir: str, *,
                        sampler: str | None, nfe: int | None, params: str | None) -> np.ndarray:
    """Conditional tasks: ``config.eval.draws`` draws for each example of the first
    held-out chunk, as evaluation draws them (:func:`evaluation.conditional_draws`);
    writes the draws and the condition (.npz) and the task's picture; returns the draws
    (S, B, ...)."""
    from experiments import evaluation

    config, s = exp.config, exp.config.sampling
    test = build(config, split=config.eval.split)
    sampler = sampler or s.sampler
    chunk = next(evaluation.conditional_draws(
        exp, test, graphdef, state, training.eval_params(state, params or s.params), sampler,
        nfe, max_chunks=1, warmup=False, mesh=host_arrays.mesh_of(state)))
    name = f"{sampler}_nfe{chunk.nfe}_step{int(state.step)}_condition"
    out_dir = fs.join(workdir, "samples")
    if jax.process_index() == 0:
        fs.save_npz(fs.join(out_dir, name + ".npz"), samples=chunk.samples,
                    **{k: np.asarray(v) for k, v in {**chunk.batch, **chunk.condition}.items()})
        exp.task.condition_pictures(chunk.samples, chunk.batch, chunk.condition, test.dataset,
                                    fs.join(out_dir, name + ".png"))
    print(f"[diffax] {chunk.samples.shape[0]} draws for each of {chunk.samples.shape[1]} "
          f"held-out examples with {name} in {chunk.wall_s:.1f} s (incl. compile) -> "
          f"{out_dir}", flush=True)
    return chunk.samples


def evaluate(config: ml_collections.ConfigDict, workdir: str, *, step: int | None = None) -> dict:
    """Held-out loss and sample metrics; writes ``workdir/metrics.json``. Loss batches,
    samples and likelihood batches are split over the devices and hosts that hold the
    restored state (``docs/experiments.md``, sharded evaluation).

    * ``test_loss``: the training loss on ``config.eval.num_batches`` batches of the
      evaluation split (fixed keys, EMA parameters, no dropout);
    * per (sampler, NFE) in ``config.eval.samplers`` x ``config.eval.nfes`` (adaptive
      samplers run once and record the NFE they spent): the ``config.eval.metrics`` (sliced W2, Frechet distance, KID, precision/recall)
      between samples and as many held-out examples, on the features named in each
      record (``config.eval.features``), and the wall time of the jitted sampling call;
      class-conditional models repeat this for each of ``config.eval.guidance_scales``
      (empty: ``config.sampling.guidance_scale``) and, on Fashion-MNIST, report how often
      the FD-FMNIST classifier recognises the requested class (``class_accuracy``);
      conditional tasks (imputation, forecasting) instead score ``config.eval.draws``
      draws per held-out example against the hidden values
      (:func:`experiments.evaluation.conditional_metrics`);
    * ``likelihood``: PF-ODE bits/dim (images, dequantized) or NLL in nats (vectors) of
      the first ``config.eval.likelihood_num_examples`` held-out examples (0: skip);
      with an exact data mixture (toys) also its exact NLL for comparison.
    """
    from experiments import evaluation

    e = config.eval
    exp, graphdef, state = restore(config, workdir, step)
    params = training.eval_params(state, config.sampling.params)
    apply = training.network_apply(graphdef)
    test = build(config, split=e.split)
    mesh = host_arrays.mesh_of(state)

    transform = exp.task.batch_transform(config, exp.spec, train=False)

    @jax.jit  # the state goes in as arguments (placed on the mesh), not as constants
    def loss_at(params, buffers, aux, batch, key):
        def net(p, x, c, **kw):
            return apply(p, buffers, x, c, **kw)
        k_transform, k_loss = jax.random.split(key)
        if transform is not None:
            batch = transform(batch, k_transform)
        return exp.objective.loss(net, params, aux, batch, k_loss)[0]

    # each host's rows, split along "data" (replicated when the count does not split)
    placed = host_arrays.on_mesh((params, state.buffers, state.aux), mesh)
    loss_values = [float(host_arrays.to_host(loss_at(
        *placed, host_arrays.local_rows(test.batch(i), mesh),
        host_arrays.on_mesh(jax.random.PRNGKey(10_000 + i), mesh))))
        for i in range(e.num_batches)]
    results = {"step": int(state.step), "test_loss": float(np.mean(loss_values)),
               "test_loss_sem": float(np.std(loss_values) / np.sqrt(len(loss_values))),
               "split": e.split, "samples": []}
    own = exp.task.evaluate_mode(exp, graphdef, state, workdir)
    if own is not None:  # the task scores its own network (Task.evaluate_mode)
        results.update(own)
    elif exp.task.conditional:
        results["samples"] = [
            evaluation.conditional_metrics(exp, test, graphdef, state, params, name, nfe,
                                           workdir, mesh=mesh)
            for name, nfe in evaluation.sampler_runs(e.samplers, e.nfes)]
    else:
        results["samples"] = evaluation.sample_metric_entries(exp, test, graphdef, state,
                                                              params, mesh=mesh)
    if e.likelihood_num_examples > 0:
        m = min(e.likelihood_num_examples, test.dataset.num_examples)
        model_fn = exp.model_fn(lambda x, c, **kw: apply(params, state.buffers, x, c, **kw))
        labels = test.dataset.label[:m] if exp.num_classes else None
        results["likelihood"] = exp.task.heldout_likelihood(
            model_fn, exp.process, exp.kind, test.dataset.x[:m], labels,
            jax.random.PRNGKey(config.seed + 17), divergence=e.likelihood_divergence,
            rtol=e.likelihood_rtol)
        if test.dataset.mixture is not None:
            exact = -np.asarray(test.dataset.mixture.log_prob(jnp.asarray(test.dataset.x[:m])))
            results["likelihood"]["exact_data_nll_nats"] = float(exact.mean())
    _write_json(fs.join(workdir, "metrics.json"), results)
    print(f"[diffax] eval: {json.dumps(results)}", flush=True)
    return results
