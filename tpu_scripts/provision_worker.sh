# shellcheck shell=sh
# Runs on every TPU worker: provision.sh sends this file as the ssh command, after lines
# setting REPO_URL, REPO_DIR, JAX_VERSION and PYTHON_VERSION (e.g. 3.11). POSIX sh.
#
# Python: Ubuntu 22.04 (tpu-ubuntu2204-base) ships Python 3.10, and jax/jaxlib 0.10.2,
# numpy 2.4, scipy, flax, orbax, chex, grain and diffrax in requirements.lock all
# require Python >= 3.11, so 3.10 cannot be supported. An existing python$PYTHON_VERSION
# with a working venv module is used as is; otherwise python$PYTHON_VERSION and
# python$PYTHON_VERSION-venv come from the deadsnakes PPA through apt (see README.md).
set -eu
PY="python$PYTHON_VERSION"
say() { echo "provision [$(hostname)]: $*"; }
fail() { echo "provision [$(hostname)]: ERROR: $*" >&2; exit 1; }
has_python() {  # $1 = interpreter; true if it runs, is version $PYTHON_VERSION and has venv
  "$1" -c "import ensurepip, sys, venv; sys.exit(sys.version_info[:2] != tuple(int(v) for v in '$PYTHON_VERSION'.split('.')))" \
    >/dev/null 2>&1
}

if has_python "$PY"; then
  say "using $(command -v "$PY")"
else
  say "installing $PY and $PY-venv from ppa:deadsnakes/ppa (this image has no $PY)"
  apt_get() { sudo -n DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q -y "$@"; }
  if ! { { command -v add-apt-repository >/dev/null 2>&1 ||
            apt_get install software-properties-common; } &&
          sudo -n add-apt-repository -y ppa:deadsnakes/ppa &&
          apt_get update &&
          apt_get install "$PY" "$PY-venv"; }; then
    fail "could not install $PY from ppa:deadsnakes/ppa; diffax needs Python $PYTHON_VERSION" \
         "(jax==$JAX_VERSION requires Python >= $PYTHON_VERSION; this image has $(python3 --version 2>&1))." \
         "Install $PY and $PY-venv on this worker and rerun provision.sh."
  fi
  has_python "$PY" || fail "$PY is still unusable after installing it (missing or without venv/ensurepip)."
fi

if [ ! -d "$REPO_DIR" ]; then git clone "$REPO_URL" "$REPO_DIR"; fi
cd "$REPO_DIR"
git pull --ff-only
# Reuse .venv only if it was made with the right interpreter (an old 3.10 one is rebuilt).
has_python .venv/bin/python || "$PY" -m venv --clear .venv
.venv/bin/python -m pip install -q --upgrade pip
# The gcs extra (gcsfs, google-cloud-storage): run directories live on a gs:// bucket.
.venv/bin/python -m pip install -q -c requirements.lock -e ".[gcs]"
.venv/bin/python -m pip install -q -c requirements.lock "jax[tpu]==$JAX_VERSION"
.venv/bin/python -c 'import jax; print(jax.process_index(), jax.device_count(), jax.devices()[0].platform)'
