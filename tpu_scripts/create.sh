#!/usr/bin/env bash
# Create a TPU VM pod slice (spot capacity by default: preemptible, runs resume;
# SPOT= with an empty value asks for on-demand capacity).
#   TPU_NAME=my-tpu ACCELERATOR_TYPE=v4-32 ZONE=us-central2-b tpu_scripts/create.sh
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
# ${SPOT-...} (no colon): unset -> --spot, set but empty -> on-demand (no flag).
# shellcheck disable=SC2086
gcloud compute tpus tpu-vm create "$TPU_NAME" --zone="$ZONE" \
  --accelerator-type="$ACCELERATOR_TYPE" --version="$RUNTIME_VERSION" ${SPOT---spot}
