#!/usr/bin/env bash
# Start the same training command on every worker; jax.distributed.initialize() (from
# --distributed) discovers the pod, each host reads its own shard of every batch, and
# orbax writes one checkpoint to the shared bucket. Re-running resumes.
#   BUCKET=gs://my-bucket/runs tpu_scripts/launch.sh configs/image/cifar10_edm.py cifar_edm \
#       --config.training.n_steps=400000
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
[ $# -ge 2 ] || die "usage: $0 CONFIG RUN_NAME [extra experiments.main flags]"
require_var BUCKET "a gs:// workdir root that every host can reach, e.g. BUCKET=gs://my-bucket/runs"
case "$BUCKET" in
  gs://?*) ;;
  *) die "BUCKET must be a gs:// path (every host writes checkpoints there), got BUCKET=$BUCKET" ;;
esac
CONFIG=$1; RUN=$2; shift 2
WORKDIR="${BUCKET%/}/$RUN"
FLAGS=""
for flag in "$@"; do FLAGS="$FLAGS $(shquote "$flag")"; done
tpu_ssh "cd $(shquote "$REPO_DIR") && nohup .venv/bin/python -m experiments.main \
--config=$(shquote "$CONFIG") --workdir=$(shquote "$WORKDIR") --mode=train --distributed$FLAGS \
> $(shquote "train_$RUN.log") 2>&1 < /dev/null &"
echo "launched $RUN on $TPU_NAME; logs: train_$RUN.log on each worker, TensorBoard: $WORKDIR/tensorboard"
