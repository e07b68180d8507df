#!/usr/bin/env bash
# Side-by-side step times for the DESIGN.md §7 workloads, in one run on this machine:
# ferrograd (generated backward over ferrograd kernels) vs PyTorch eager (same torch as tch).
# Each engine runs in its own process, one after the other; medians of 200 steps.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo build --release -q -p ferrograd-train --example step_bench
tmp=$(mktemp)
./target/release/examples/step_bench "$@" | tee -a "$tmp"
python bench/pytorch_steps.py "$@" | tee -a "$tmp"
echo
peak=$(awk '$1=="sgemm-peak" {print $3}' "$tmp")
echo "sgemm peak (ferrograd matmul 1024^3, 2 threads, fastest of 20, this run): $peak GFLOP/s"
printf '%-5s %14s %14s %9s %12s %12s %12s %8s\n' workload "ferrograd ms" "pytorch ms" speedup \
    "fg RSS MiB" "pt RSS MiB" "fg GFLOP/s" "% peak"
for w in W1a W1b W2; do
    fg=$(awk -v w="$w" '$1==w && $2=="ferrograd" {print $3" "$4" "$5" "$6}' "$tmp")
    pt=$(awk -v w="$w" '$1==w && $2=="pytorch-eager" {print $3" "$4}' "$tmp")
    [ -n "$fg" ] && [ -n "$pt" ] || continue
    echo "$w $fg $pt" | awk '{printf "%-5s %14.3f %14.3f %8.2fx %12.1f %12.1f %12.1f %7s%%\n",
        $1, $2, $6, $6 / $2, $3, $7, $4, $5}'
done
rm -f "$tmp"
