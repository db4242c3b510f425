#!/usr/bin/env bash
# Start the same training command on every worker; jax.distributed.initialize() (from
# --distributed) discovers the pod, each host reads its own shard of every batch, and
# orbax writes one checkpoint to the shared bucket. Re-running resumes.
#   BUCKET=gs://my-bucket/runs tpu_scripts/launch.sh configs/image/cifar10_edm.py cifar_edm \
#       --config.training.n_steps=400000
set -euo pipefail
source "$(dirname "$0")/common.sh"
[ $# -ge 2 ] || { echo "usage: $0 CONFIG RUN_NAME [extra flags]" >&2; exit 2; }
[ -n "$BUCKET" ] || { echo "set BUCKET=gs://... (a workdir all hosts can reach)" >&2; exit 2; }
CONFIG=$1; RUN=$2; shift 2
tpu_ssh "cd $REPO_DIR && nohup .venv/bin/python -m experiments.main --config=$CONFIG \
  --workdir=$BUCKET/$RUN --mode=train --distributed $* > train_$RUN.log 2>&1 &"
echo "launched $RUN on $TPU_NAME; logs: train_$RUN.log on each worker, TensorBoard: $BUCKET/$RUN/tensorboard"
