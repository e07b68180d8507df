#!/usr/bin/env bash
# The main job, with embedded defaults: sets up what is missing (the LibTorch venv the CLI links
# against), prints a compile-time gradient next to its forward-mode and finite-difference checks,
# then runs the gravitational-wave analysis demo (`ferrograd gw-demo`: simulated strain into ROOT
# files, W2 CNN trained from them, ROC AUC, efficiencies at FAP 1e-2/1e-3, plots in gw-demo/plots).
# Extra arguments go to `ferrograd gw-demo` (e.g. `--out DIR --epochs 3 --threads 1`).
# MNIST training (W1a) is `scripts/fetch-mnist.sh && cargo run --release -p ferrograd-cli --
# train --model mlp --data mnist --threads 2`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=env.sh
source scripts/env.sh
echo "== #[differentiable]: reverse and forward mode against finite differences"
cargo run --release -q -p ferrograd --example quickstart
echo
echo "== ferrograd gw-demo (defaults: 16000 training / 4000 test segments, SNR 5-20, 5 epochs)"
cargo run --release -q -p ferrograd-cli -- gw-demo "$@"
