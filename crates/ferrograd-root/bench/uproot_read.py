"""Reads every branch of a tree with uproot (all to NumPy/awkward arrays); prints the best time
of several passes, in the same format as `examples/read_tree.rs`.

usage: uproot_read.py FILE TREE [REPEAT]
"""

import sys
import time

import uproot


def main():
    path, tree = sys.argv[1], sys.argv[2]
    repeat = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        with uproot.open(path) as f:
            t = f[tree]
            arrays = t.arrays(library="ak")
            entries = t.num_entries
        best = min(best, time.perf_counter() - start)
    print(f"entries {entries} fields {len(arrays.fields)} seconds {best:.6f}")


if __name__ == "__main__":
    main()
