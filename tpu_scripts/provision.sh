#!/usr/bin/env bash
# Clone diffax on every worker and install the pinned stack plus jax[tpu] (same jax
# version as requirements.lock).
#   REPO_URL=https://github.com/you/diffax tpu_scripts/provision.sh
set -euo pipefail
source "$(dirname "$0")/common.sh"
[ -n "$REPO_URL" ] || { echo "set REPO_URL to your diffax git URL" >&2; exit 2; }
JAX_VERSION=$(grep -E '^jax==' "$(dirname "$0")/../requirements.lock" | cut -d= -f3)
tpu_ssh "set -e; (test -d $REPO_DIR || git clone $REPO_URL $REPO_DIR) && cd $REPO_DIR && git pull --ff-only && \
  python3.11 -m venv .venv && .venv/bin/pip install -q -c requirements.lock -e . && \
  .venv/bin/pip install -q 'jax[tpu]==$JAX_VERSION' && .venv/bin/python -c 'import jax; print(jax.device_count())'"
