#!/usr/bin/env bash
# The main job with embedded defaults: differentiates the README example at compile time and
# prints the gradient next to forward mode and a finite-difference check.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release -q -p ferrograd --example quickstart -- "$@"
