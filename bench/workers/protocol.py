"""The worker side of the bench/run protocol (the Rust orchestrator is crates/ferrograd-bench).

A worker runs one workload for one framework in its own process. It reads the workload's
manifest `<data>/<workload>.json` and its raw little-endian inputs, prints one JSON line
`{"ready": ...}` (or `{"unavailable": "<reason>"}` and exits), then answers commands read from
stdin, one JSON line each:
  check          -> writes [loss, gradient...] (or [nll, hessian...]) as f64 to
                    <data>/<workload>.<framework>.out and replies {"out": path}
  time N [MS]    -> runs N steps (stopping early once MS milliseconds have passed), replies {"times_ms": [...], "rss_mib": peak RSS so far}
  quit           -> exits
"""

import json
import os
import resource
import sys
import time

import numpy as np


def load(data, workload):
    with open(os.path.join(data, f"{workload}.json")) as f:
        man = json.load(f)
    arrays = {}
    for name, spec in man["files"].items():
        arrays[name] = np.fromfile(os.path.join(data, spec["file"]), dtype=spec["dtype"]).reshape(spec["shape"])
    return man, arrays


def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def reply(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def serve(data, workload, framework, check, step):
    """`check()` returns a 1-D float64 array; `step()` runs one timed step (and blocks until
    its result is computed)."""
    reply({"ready": True, "rss_mib": rss_mib()})
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        if cmd[0] == "quit":
            break
        if cmd[0] == "check":
            out = os.path.join(data, f"{workload}.{framework}.out")
            np.asarray(check(), dtype="<f8").tofile(out)
            reply({"out": out})
        elif cmd[0] == "time":
            times = []
            budget = float(cmd[2]) if len(cmd) > 2 else float("inf")
            start = time.perf_counter()
            for _ in range(int(cmd[1])):
                t0 = time.perf_counter()
                step()
                times.append((time.perf_counter() - t0) * 1e3)
                if (time.perf_counter() - start) * 1e3 > budget:
                    break
            reply({"times_ms": times, "rss_mib": rss_mib()})
        else:
            reply({"error": f"unknown command {cmd[0]}"})


def main_guard(fn):
    try:
        fn()
    except Exception as e:  # reported to the orchestrator, never hidden
        msg = f"{type(e).__name__}: {e}".splitlines()[0][:300]
        reply({"unavailable": msg})
        sys.exit(0)
