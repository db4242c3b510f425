"""Command-line entry point: train, sample and evaluate from an ml_collections config.

    python -m experiments.main --config=configs/image/fashion_mnist_edm.py \
        --workdir=runs/fm --mode=train,sample,eval --config.training.n_steps=2000

Modes (comma-separated, run in order): ``train`` (resumes from the latest checkpoint in
--workdir), ``sample`` (latest checkpoint -> PNG grid + .npz), ``eval`` (held-out loss and
sample metrics -> workdir/metrics.json), ``inverse`` (the config's ``inverse`` section:
inpainting / super-resolution of test images with a diffax.inverse solver ->
workdir/inverse/). On a multi-host pod pass --distributed so that
``jax.distributed.initialize()`` runs first (TPU pods need no further arguments).
"""

from __future__ import annotations

from absl import app, flags, logging
from ml_collections import config_flags

MODES = ("train", "sample", "eval", "inverse")

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Path to a config file in configs/.",
                                lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and samples.")
flags.DEFINE_string("mode", "train", f"Comma-separated modes among {MODES}.")
flags.DEFINE_bool("distributed", False, "Call jax.distributed.initialize() (multi-host).")
flags.mark_flags_as_required(["config", "workdir"])


def parse_modes(text: str) -> list[str]:
    modes = [m.strip() for m in text.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise app.UsageError(f"--mode={text!r}: unknown mode(s) {bad}; valid choices: "
                             f"{list(MODES)} (comma-separated).")
    return modes


def main(argv) -> None:
    del argv
    modes = parse_modes(FLAGS.mode)
    import jax
    if FLAGS.distributed:
        jax.distributed.initialize()
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
        else:
            from experiments import inverse_problems
            inverse_problems.solve(config, FLAGS.workdir)


if __name__ == "__main__":
    app.run(main)
