#!/usr/bin/env bash
# Throughput of ferrograd-root against uproot on the same files, in the same run: RDataFrame
# Snapshot trees (7 columns: float, double, int, float, uint64, bool, RVec<float>) written by
# real ROOT with each compression and ROOT's default cluster size. Prints a Markdown table: file MB/s (bytes on disk over the
# best time of REPEAT passes), events/s, and ferrograd's speed as a ratio to uproot's.
#
# usage: bench/throughput.sh [ENTRIES (default 1000000)] [REPEAT (default 5)]
# Needs `source scripts/env.sh` and scripts/setup-root.sh (ROOT + uproot in the venv).
set -euo pipefail
cd "$(dirname "$0")/../../.."
ENTRIES="${1:-1000000}"
REPEAT="${2:-5}"
PY="${FERROGRAD_TORCH_VENV:?source scripts/env.sh first}/bin/python"
DIR="${CARGO_TARGET_DIR:-target}/root-bench-v2-${ENTRIES}"
if [ ! -f "$DIR/done" ]; then
    mkdir -p "$DIR"
    "$PY" crates/ferrograd-root/tests/py/make_root_files.py "$DIR" "$ENTRIES" 32000 snapshot-only 0 2>/dev/null
    touch "$DIR/done"
fi
cargo build --release -q -p ferrograd-root --example read_tree
BIN="${CARGO_TARGET_DIR:-target}/release/examples/read_tree"
echo "| compression | file MB | uproot MB/s | ferrograd MB/s (1 thread) | ratio | ferrograd MB/s (2 threads) | ratio | ferrograd Mevents/s (1 / 2 threads) |"
echo "|---|---|---|---|---|---|---|---|"
for alg in none zlib lz4 zstd lzma; do
    f="$DIR/snapshot_${alg}.root"
    up=$("$PY" crates/ferrograd-root/bench/uproot_read.py "$f" events "$REPEAT" 2>/dev/null | awk '{print $NF}')
    one=$("$BIN" "$f" events 1 "$REPEAT" | awk '{print $NF}')
    two=$("$BIN" "$f" events 2 "$REPEAT" | awk '{print $NF}')
    bytes=$(stat -c %s "$f")
    awk -v a="$alg" -v b="$bytes" -v u="$up" -v o="$one" -v t="$two" -v n="$ENTRIES" 'BEGIN {
        mb = b / 1e6
        printf "| %s | %.1f | %.0f | %.0f | %.2f× | %.0f | %.2f× | %.1f / %.1f |\n",
            a, mb, mb / u, mb / o, u / o, mb / t, u / t, n / o / 1e6, n / t / 1e6 }'
done
