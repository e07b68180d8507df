#!/usr/bin/env bash
# Build the Python extension module `ferrograd` (crates/ferrograd-py, PyO3) with maturin and
# install it into the project venv (the LibTorch/ROOT one: scripts/setup-torch.sh prints it).
#
# Idempotent: the module is rebuilt only when a source it is built from changed. The stamp
# is a SHA-256 over the files of ferrograd-py and of every workspace crate it depends on
# (found with `cargo metadata`; tests, benches, examples and docs left out), Cargo.toml and
# Cargo.lock; it is kept in the venv.
#   scripts/setup-python.sh           build + install if the stamp differs
#   scripts/setup-python.sh --check   exit 1 (and say why) if the installed module is stale
#
# The release build goes to cargo's target directory (CARGO_TARGET_DIR or target/), so it
# shares compiled dependencies with the other release builds.
# Needs: the venv, network access to the Python package registry (maturin) the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

MATURIN_VERSION="1.16.0"
CRATE="crates/ferrograd-py"

log() { printf 'setup-python: %s\n' "$*" >&2; }

VENV="${FERROGRAD_TORCH_VENV:-$(scripts/setup-torch.sh)}"
PY="${VENV}/bin/python"
STAMP="${VENV}/.ferrograd-py.sha256"

source_hash() {
    cargo metadata --format-version 1 | "$PY" -c '
import hashlib, json, os, subprocess, sys
meta = json.load(sys.stdin)
root = meta["workspace_root"]
pkgs = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
start = next(p["id"] for p in meta["packages"] if p["name"] == "ferrograd-py")
seen, todo = set(), [start]
while todo:
    i = todo.pop()
    if i in seen or pkgs[i]["source"] is not None:  # only workspace (path) crates
        continue
    seen.add(i)
    todo += [d["pkg"] for d in nodes[i]["deps"]
             if any(k["kind"] in (None, "build") for k in d["dep_kinds"])]
dirs = sorted(os.path.relpath(os.path.dirname(pkgs[i]["manifest_path"]), root) for i in seen)
files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "--", *dirs],
                       cwd=root, check=True, capture_output=True, text=True).stdout.split()
# Tests, benchmarks, examples and docs do not go into the module.
skip = ("tests", "benches", "examples")
files = [f for f in files
         if not set(f.split("/")[:-1]) & set(skip) and not f.endswith(".md")]
h = hashlib.sha256()
for f in sorted(set(files) | {"Cargo.toml", "Cargo.lock"}):
    path = os.path.join(root, f)
    if os.path.isfile(path):
        h.update(f.encode() + b"\0")
        with open(path, "rb") as fh:
            h.update(hashlib.sha256(fh.read()).digest())
print(h.hexdigest())
'
}

installed_ok() {
    [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$1" ] &&
        "$PY" -c 'import ferrograd; ferrograd.Model.mlp(1, 1, 2)' >/dev/null 2>&1
}

want="$(source_hash)"
if [ "${1:-}" = "--check" ]; then
    if installed_ok "$want"; then
        exit 0
    fi
    log "the ferrograd module in ${VENV} is missing or older than its sources; run scripts/setup-python.sh"
    exit 1
fi
if installed_ok "$want"; then
    log "reusing the ferrograd module in ${VENV} (sources unchanged)"
    exit 0
fi

if ! "${VENV}/bin/maturin" --version 2>/dev/null | grep -qx "maturin ${MATURIN_VERSION}"; then
    log "installing maturin ${MATURIN_VERSION} into ${VENV}"
    "$PY" -m pip install --disable-pip-version-check --quiet "maturin==${MATURIN_VERSION}" >&2
fi

wheels="$(mktemp -d)"
trap 'rm -rf "$wheels"' EXIT
log "building the ferrograd wheel (release)"
start=$SECONDS
# --compatibility linux: a wheel for this machine only (no manylinux audit).
"${VENV}/bin/maturin" build --release --quiet --interpreter "$PY" \
    --compatibility linux --manifest-path "${CRATE}/Cargo.toml" --out "$wheels" >&2
log "built in $((SECONDS - start)) s; installing into ${VENV}"
"$PY" -m pip install --disable-pip-version-check --quiet --no-deps --force-reinstall \
    "$wheels"/ferrograd-*.whl >&2
printf '%s\n' "$want" >"$STAMP"
if ! installed_ok "$want"; then
    log "error: ferrograd does not import from ${VENV} after install"
    "$PY" -c 'import ferrograd' >&2 || true
    exit 1
fi
log "ready: ferrograd $("$PY" -c 'import ferrograd; print(ferrograd.__version__)') in ${VENV}"
