# shellcheck shell=bash
# Shared settings and helpers for the TPU scripts (sourced, not run); override any
# setting in the environment.
: "${TPU_NAME:=diffax-v4-32}"
: "${ZONE:=us-central2-b}"
: "${ACCELERATOR_TYPE:=v4-32}"
: "${RUNTIME_VERSION:=tpu-ubuntu2204-base}"
: "${REPO_URL:=}"            # git URL of your diffax fork (required by provision.sh)
: "${REPO_DIR:=diffax}"
: "${BUCKET:=}"              # gs:// workdir root (required by launch.sh: hosts share it)

TPU_SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck disable=SC2034  # used by the scripts that source this file
REPO_ROOT="$(dirname "$TPU_SCRIPTS_DIR")"

die() {  # print "<script>: <message>" on stderr and exit 2 (a usage/config error)
  echo "$(basename "$0"): $*" >&2
  exit 2
}

require_var() {  # require_var NAME "what it is, with an example"
  [ -n "${!1:-}" ] || die "$1 is not set: set $1 to $2"
}

shquote() {  # quote one word for the workers' login shell (POSIX single quotes)
  printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"
}

tpu_ssh() {  # run a command on every worker of the pod slice
  gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone="$ZONE" --worker=all --command="$1"
}
