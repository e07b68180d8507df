#!/usr/bin/env bash
# Create (or reuse) the Python venv with JAX (CPU) used by the benchmark suite (bench/run).
#
# A venv of its own, not the LibTorch venv: that one is shared with CI and pins the numpy that
# torch 2.13 and ROOT's Python bindings were tested with; jax/jaxlib bring their own numpy and
# ml_dtypes requirements. Idempotent: if the venv already has jax==$JAX_VERSION, nothing is
# downloaded. It lives outside the checkout:
#   ${FERROGRAD_CACHE:-$HOME/.cache/ferrograd}/venv-jax-$JAX_VERSION
# Prints the venv directory on stdout (last line); progress goes to stderr.
#
# Needs: python3 (3.10+) with the venv module, network access to the Python package registry.
set -euo pipefail

JAX_VERSION="0.10.2"  # jax and jaxlib are released together; CPU wheels from PyPI
CACHE_DIR="${FERROGRAD_CACHE:-${HOME:?HOME is not set}/.cache/ferrograd}"
VENV="${CACHE_DIR}/venv-jax-${JAX_VERSION}"
PYTHON_BIN="${FERROGRAD_PYTHON:-python3}"

log() { printf 'setup-jax: %s\n' "$*" >&2; }

venv_ok() {
    [ -x "${VENV}/bin/python" ] &&
        "${VENV}/bin/python" - "$JAX_VERSION" <<'PY' >/dev/null 2>&1
import sys
import numpy  # noqa: F401
import jax
sys.exit(0 if jax.__version__ == sys.argv[1] else 1)
PY
}

if venv_ok; then
    log "reusing ${VENV} (jax ${JAX_VERSION})"
    printf '%s\n' "$VENV"
    exit 0
fi

command -v "$PYTHON_BIN" >/dev/null 2>&1 || { log "error: ${PYTHON_BIN} not found"; exit 1; }
mkdir -p "$CACHE_DIR"
exec 9>"${CACHE_DIR}/.setup-jax.lock"
flock 9
if venv_ok; then
    printf '%s\n' "$VENV"
    exit 0
fi
log "creating ${VENV}"
"$PYTHON_BIN" -m venv "$VENV"
"${VENV}/bin/python" -m pip install --quiet --upgrade pip >&2
"${VENV}/bin/python" -m pip install --quiet "jax==${JAX_VERSION}" "jaxlib==${JAX_VERSION}" numpy >&2
venv_ok || { log "error: jax ${JAX_VERSION} not importable in ${VENV}"; exit 1; }
log "ready: ${VENV}"
printf '%s\n' "$VENV"
