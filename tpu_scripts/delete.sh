#!/usr/bin/env bash
# Delete the TPU VM pod slice.
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
gcloud compute tpus tpu-vm delete "$TPU_NAME" --zone="$ZONE" --quiet
