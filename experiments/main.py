"""Command-line entry point: train, sample and evaluate from an ml_collections config.

    python -m experiments.main --config=configs/image/fashion_mnist_edm.py \
        --workdir=runs/fm --mode=train,sample,eval --config.training.n_steps=2000

Modes (comma-separated, run in order): ``train`` (resumes from the latest checkpoint in
--workdir), ``sample`` (latest checkpoint -> PNG grid + .npz), ``eval`` (held-out loss and
sample metrics -> workdir/metrics.json), ``inverse`` (the config's ``inverse`` section:
inpainting / super-resolution of test images with a diffax.inverse solver ->
workdir/inverse/), ``fid`` (the config's ``fid`` section: FID / FD-FMNIST of 50,000
samples in resumable chunks against cached training-set statistics -> workdir/fid/,
docs/fid.md).

Multi-host: pass --distributed on every host so that ``jax.distributed.initialize()`` runs
first. TPU pods (and SLURM / Open MPI GPU clusters) need no further arguments; elsewhere give
the coordinator explicitly, e.g. two processes on one machine (CPU collectives over gloo)::

    python -m experiments.main --distributed --coordinator_address=127.0.0.1:9876 \
        --num_processes=2 --process_id=0 --cpu_collectives=gloo --config=... --workdir=...

Every process runs the same command on the same workdir (a shared file system or a gs://
bucket); each reads only its rows of every batch, and process 0 alone writes logs,
metrics, samples and PNGs (orbax coordinates the checkpoint across processes).
"""

from __future__ import annotations

from absl import app, flags, logging
from ml_collections import config_flags

MODES = ("train", "sample", "eval", "inverse", "fid")

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Path to a config file in configs/.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and samples.")
flags.DEFINE_string("mode", "train", f"Comma-separated modes among {MODES}.")
flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize() (multi-host).")
flags.DEFINE_string("coordinator_address", None,
                    "--distributed: host:port of process 0 (default: auto-detected on TPU "
                    "pods and SLURM / Open MPI clusters).")
flags.DEFINE_integer("num_processes", None, "--distributed: total number of processes.")
flags.DEFINE_integer("process_id", None, "--distributed: this process's index.")
flags.DEFINE_enum("cpu_collectives", None, ["gloo", "mpi"],
                  "Collectives for CPU devices across processes (multi-process runs on CPU).")
flags.mark_flags_as_required(["config", "workdir"])


def parse_modes(text: str) -> list[str]:
    modes = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise app.UsageError(f"--mode={text!r}: unknown mode(s) {bad}; valid choices: "
                             f"{list(MODES)} (comma-separated).")
    return modes


DISTRIBUTED_FLAGS = ("coordinator_address", "num_processes", "process_id", "cpu_collectives")


def initialize_distributed(jax) -> None:
    """``jax.distributed.initialize`` with the coordinator flags that were given (none: the
    cluster environment is auto-detected)."""
    if FLAGS.cpu_collectives:
        jax.config.update("jax_cpu_collectives_implementation", FLAGS.cpu_collectives)
    given = {n: FLAGS[n].value for n in ("coordinator_address", "num_processes", "process_id")
             if FLAGS[n].value is not None}
    jax.distributed.initialize(**given)


def main(argv) -> None:
    del argv
    modes = parse_modes(FLAGS.mode)
    import jax
    if FLAGS.distributed:
        initialize_distributed(jax)
    elif any(FLAGS[name].present for name in DISTRIBUTED_FLAGS):
        raise app.UsageError(f"{['--' + n for n in DISTRIBUTED_FLAGS if FLAGS[n].present]} "
                             "only apply to multi-host runs: add --distributed.")
    from experiments import runner
    if not FLAGS["verbosity"].present:  # libraries set it too, so ask the command line
        logging.set_verbosity(logging.WARNING)  # orbax logs every save at INFO
    config = FLAGS.config
    for mode in modes:
        if mode == "train":
            runner.train(config, FLAGS.workdir)
        elif mode == "sample":
            runner.sample(config, FLAGS.workdir)
        elif mode == "eval":
            runner.evaluate(config, FLAGS.workdir)
        elif mode == "fid":
            from experiments import fid
            fid.run(config, FLAGS.workdir)
        else:
            from experiments import inverse_problems
            inverse_problems.solve(config, FLAGS.workdir)


if __name__ == "__main__":
    app.run(main)
