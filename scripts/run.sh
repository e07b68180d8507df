#!/usr/bin/env bash
# The main job, with embedded defaults: sets up what is missing (LibTorch venv, MNIST files),
# prints a compile-time gradient next to its forward-mode and finite-difference checks, then
# trains the MNIST MLP (W1a) with the ferrograd engine and reports test accuracy and step time.
# Extra arguments go to `ferrograd train` (e.g. `--model cnn --data gw`, `--engine libtorch`).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh
scripts/fetch-mnist.sh >/dev/null
echo "== #[differentiable]: reverse and forward mode against finite differences"
cargo run --release -q -p ferrograd --example quickstart
echo
echo "== ferrograd train (defaults: --model mlp --data mnist --epochs 5 --threads 2)"
if [ "$#" -eq 0 ]; then
    set -- --model mlp --data mnist --threads 2
fi
cargo run --release -q -p ferrograd-cli -- train "$@"
