#!/usr/bin/env bash
# On every worker: install Python 3.11 (the TPU base image is Ubuntu 22.04 with
# Python 3.10, and the pinned stack needs >= 3.11), clone diffax, make .venv with
# Python 3.11 and install the pinned stack plus jax[tpu] (same jax version as
# requirements.lock). The worker side is provision_worker.sh, sent as the ssh command.
#   REPO_URL=https://github.com/you/diffax tpu_scripts/provision.sh
set -euo pipefail
# shellcheck source=common.sh
source "$(dirname "$0")/common.sh"
require_var REPO_URL "your diffax git URL, e.g. REPO_URL=https://github.com/you/diffax"
# The interpreter version comes from pyproject.toml (requires-python = ">=3.11,<3.12").
PYTHON_VERSION=$(sed -n 's/^requires-python *= *">=\([0-9][0-9]*\.[0-9][0-9]*\).*/\1/p' \
  "$REPO_ROOT/pyproject.toml")
[ -n "$PYTHON_VERSION" ] || die "no requires-python = \">=X.Y...\" line in $REPO_ROOT/pyproject.toml"
JAX_VERSION=$(sed -n 's/^jax==//p' "$REPO_ROOT/requirements.lock")
[ -n "$JAX_VERSION" ] || die "no jax==VERSION line in $REPO_ROOT/requirements.lock"
tpu_ssh "REPO_URL=$(shquote "$REPO_URL")
REPO_DIR=$(shquote "$REPO_DIR")
JAX_VERSION=$(shquote "$JAX_VERSION")
PYTHON_VERSION=$(shquote "$PYTHON_VERSION")
$(cat "$TPU_SCRIPTS_DIR/provision_worker.sh")"
