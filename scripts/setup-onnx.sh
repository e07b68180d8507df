#!/usr/bin/env bash
# Install onnx and onnxruntime into the project venv, for ferrograd-onnx's tests (the test
# models are exported there with torch.onnx.export and run by onnxruntime as the oracle).
#
# Idempotent: nothing is downloaded when the pinned versions already import. Pinned with
# `--no-deps` plus their explicit dependencies, so numpy and torch in the venv are never touched.
#
# Needs: scripts/setup-torch.sh's venv, network access to the Python package registry.
set -euo pipefail
cd "$(dirname "$0")/.."

ONNX_VERSION="1.23.2"
ORT_VERSION="1.32.0"
DEPS=("protobuf==7.36.2" "ml_dtypes==0.7.0" "flatbuffers==25.12.19")

log() { printf 'setup-onnx: %s\n' "$*" >&2; }

VENV="${FERROGRAD_TORCH_VENV:-$(scripts/setup-torch.sh)}"
PY="${VENV}/bin/python"

onnx_ok() {
    "$PY" - "$ONNX_VERSION" "$ORT_VERSION" <<'PY' >/dev/null 2>&1
import sys
import onnx, onnxruntime
sys.exit(0 if (onnx.__version__, onnxruntime.__version__) == (sys.argv[1], sys.argv[2]) else 1)
PY
}

if onnx_ok; then
    log "reusing onnx ${ONNX_VERSION} and onnxruntime ${ORT_VERSION} in ${VENV}"
    exit 0
fi
log "installing onnx==${ONNX_VERSION} and onnxruntime==${ORT_VERSION} into ${VENV}"
if "$PY" -m pip --version >/dev/null 2>&1; then
    PIP=("$PY" -m pip)
else
    PIP=(python3 -m pip --python "$PY")
fi
"${PIP[@]}" install --disable-pip-version-check --quiet --no-deps \
    "onnx==${ONNX_VERSION}" "onnxruntime==${ORT_VERSION}" "${DEPS[@]}" >&2
if ! onnx_ok; then
    log "error: onnx ${ONNX_VERSION} or onnxruntime ${ORT_VERSION} not importable from ${VENV}"
    "$PY" -c 'import onnx, onnxruntime' >&2 || true
    exit 1
fi
log "ready: onnx ${ONNX_VERSION}, onnxruntime ${ORT_VERSION}"
