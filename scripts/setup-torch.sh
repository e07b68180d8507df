#!/usr/bin/env bash
# Create (or reuse) the Python venv that provides LibTorch for ferrograd-torch.
#
# Idempotent: if the venv already has torch==$TORCH_VERSION and numpy, nothing is
# downloaded. The venv lives in a cache directory OUTSIDE the checkout:
#   ${FERROGRAD_CACHE:-$HOME/.cache/ferrograd}/venv-torch-$TORCH_VERSION
# Prints the venv directory on stdout (last line); progress goes to stderr.
#
# Needs: python3 (3.10+) with the venv module, network access to the Python package registry.
set -euo pipefail

TORCH_VERSION="2.13.0"  # must match tch = "0.26" (see crates/ferrograd-torch/Cargo.toml)
CACHE_DIR="${FERROGRAD_CACHE:-${HOME:?HOME is not set}/.cache/ferrograd}"
VENV="${CACHE_DIR}/venv-torch-${TORCH_VERSION}"
PYTHON_BIN="${FERROGRAD_PYTHON:-python3}"

log() { printf 'setup-torch: %s\n' "$*" >&2; }

venv_ok() {
    [ -x "${VENV}/bin/python" ] &&
        "${VENV}/bin/python" - "$TORCH_VERSION" <<'PY' >/dev/null 2>&1
import sys
import numpy  # noqa: F401
import torch
want = sys.argv[1]
sys.exit(0 if torch.__version__.split("+")[0] == want else 1)
PY
}

if venv_ok; then
    log "reusing ${VENV} (torch ${TORCH_VERSION})"
    printf '%s\n' "$VENV"
    exit 0
fi

command -v "$PYTHON_BIN" >/dev/null 2>&1 || { log "error: ${PYTHON_BIN} not found"; exit 1; }
mkdir -p "$CACHE_DIR"

# Serialise concurrent runs (e.g. two shells sourcing env.sh at once).
exec 9>"${CACHE_DIR}/.setup-torch.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi
if venv_ok; then
    log "reusing ${VENV} (set up by a concurrent run)"
    printf '%s\n' "$VENV"
    exit 0
fi

if [ ! -x "${VENV}/bin/python" ]; then
    log "creating venv ${VENV}"
    if ! "$PYTHON_BIN" -m venv "$VENV" >&2; then
        # Debian without python3-venv/ensurepip: a bare venv, filled by the system pip.
        log "venv with pip failed; retrying --without-pip"
        rm -rf "$VENV"
        "$PYTHON_BIN" -m venv --without-pip "$VENV" >&2
    fi
fi
if "${VENV}/bin/python" -m pip --version >/dev/null 2>&1; then
    PIP=("${VENV}/bin/python" -m pip)
else
    PIP=("$PYTHON_BIN" -m pip --python "${VENV}/bin/python")
fi
log "installing torch==${TORCH_VERSION} and numpy (about 5 GB with the CUDA wheels; ~1 min)"
"${PIP[@]}" install --disable-pip-version-check --quiet "torch==${TORCH_VERSION}" numpy >&2

if ! venv_ok; then
    log "error: torch ${TORCH_VERSION} not importable from ${VENV} after install"
    exit 1
fi
log "ready: ${VENV}"
printf '%s\n' "$VENV"
