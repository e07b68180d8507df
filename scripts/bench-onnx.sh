#!/usr/bin/env bash
# ONNX models against onnxruntime (inference) and PyTorch eager (training step).
#
#   source scripts/env.sh && scripts/bench-onnx.sh [ROUNDS] [REPS]
#
# Exports the test models at bench batch (crates/ferrograd-onnx/benches/py/onnx_peers.py),
# then for ROUNDS rounds runs the Rust side (examples/onnx_vs_peers.rs) and the Python side
# at 1 and 2 threads, interleaved (the order flips each round so drift in machine load hits
# both alike). Each process prints per-measurement medians over REPS; the table shows the
# median of those over the rounds. Raw lines go to $OUT/raw.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${1:-5}"
REPS="${2:-30}"
OUT="${OUT:-${TMPDIR:-/tmp}/ferrograd-bench-onnx}"
PY="${FERROGRAD_TORCH_VENV:?source scripts/env.sh first}/bin/python"
PEERS=crates/ferrograd-onnx/benches/py/onnx_peers.py

mkdir -p "$OUT"
"$PY" "$PEERS" export "$OUT/models"
cargo build --release -q -p ferrograd-onnx --example onnx_vs_peers
BIN="${CARGO_TARGET_DIR:-target}/release/examples/onnx_vs_peers"

: >"$OUT/raw.txt"
for r in $(seq "$ROUNDS"); do
    for t in 1 2; do
        if (((r + t) % 2)); then
            "$BIN" "$OUT/models" "$t" "$REPS" >>"$OUT/raw.txt"
            "$PY" "$PEERS" run "$OUT/models" "$t" "$REPS" >>"$OUT/raw.txt"
        else
            "$PY" "$PEERS" run "$OUT/models" "$t" "$REPS" >>"$OUT/raw.txt"
            "$BIN" "$OUT/models" "$t" "$REPS" >>"$OUT/raw.txt"
        fi
    done
    echo "round $r/$ROUNDS done (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
done

"$PY" - "$OUT/raw.txt" <<'PYEOF'
import collections, statistics, sys
ms = collections.defaultdict(list)
for line in open(sys.argv[1]):
    peer, model, threads, kind, t = line.split()
    ms[peer, model, int(threads), kind].append(float(t))
med = lambda *k: statistics.median(ms[k]) if ms[k] else float("nan")
print("| model | threads | ferrograd forward | onnxruntime | ratio | torch no_grad "
      "| ferrograd train step | torch eager train step | ratio |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for model in ("mlp", "w2cnn", "cnn2d", "block"):
    for t in (1, 2):
        fi, oi, ti = med("ferrograd", model, t, "infer"), med("ort", model, t, "infer"), med("torch", model, t, "infer")
        ft, tt = med("ferrograd", model, t, "train"), med("torch", model, t, "train")
        print(f"| {model} | {t} | {fi:.3f} | {oi:.3f} | {fi / oi:.2f}x | {ti:.3f} "
              f"| {ft:.3f} | {tt:.3f} | {ft / tt:.2f}x |")
print(f"\nms, median over {len(ms['ferrograd', 'mlp', 1, 'infer'])} rounds; ratio = ferrograd / peer")
PYEOF
