#!/usr/bin/env bash
# Install real ROOT (PyPI package `root`: PyROOT, root.exe, RDataFrame) and uproot into the
# project venv, for ferrograd-root's tests (they write files with ROOT and compare with uproot).
#
# Idempotent: nothing is downloaded when ROOT $ROOT_VERSION and uproot already import. The venv
# is the LibTorch one (scripts/setup-torch.sh prints it; scripts/env.sh exports it as
# FERROGRAD_TORCH_VENV), so one venv serves every test.
#
# Needs: scripts/setup-torch.sh's venv, network access to the Python package registry.
set -euo pipefail
cd "$(dirname "$0")/.."

ROOT_VERSION="6.40.00"   # what `pip install root==$ROOT_PIP` gives
ROOT_PIP="0.1a12"
UPROOT_VERSION="5.7.7"
AWKWARD_VERSION="2.14.0"

log() { printf 'setup-root: %s\n' "$*" >&2; }

VENV="${FERROGRAD_TORCH_VENV:-$(scripts/setup-torch.sh)}"
PY="${VENV}/bin/python"

root_ok() {
    "$PY" - "$ROOT_VERSION" <<'PY' >/dev/null 2>&1
import sys, warnings
warnings.simplefilter("ignore")
import ROOT
import uproot, awkward  # noqa: F401
sys.exit(0 if ROOT.gROOT.GetVersion() == sys.argv[1] else 1)
PY
}

if root_ok; then
    log "reusing ROOT ${ROOT_VERSION} and uproot in ${VENV}"
    exit 0
fi
log "installing root==${ROOT_PIP} (ROOT ${ROOT_VERSION}, ~250 MB), uproot and awkward into ${VENV}"
if "$PY" -m pip --version >/dev/null 2>&1; then
    PIP=("$PY" -m pip)
else
    PIP=(python3 -m pip --python "$PY")
fi
"${PIP[@]}" install --disable-pip-version-check --quiet \
    "root==${ROOT_PIP}" "uproot==${UPROOT_VERSION}" "awkward==${AWKWARD_VERSION}" >&2
if ! root_ok; then
    log "error: ROOT ${ROOT_VERSION} or uproot not importable from ${VENV} after install"
    "$PY" -c 'import ROOT; print(ROOT.gROOT.GetVersion())' >&2 || true
    exit 1
fi
log "ready: ROOT ${ROOT_VERSION}, uproot ${UPROOT_VERSION}"
