"""Dumps every branch of ROOT trees as read by uproot, for ferrograd-root's tests to compare.

usage: dump_uproot.py FILE TREE OUT.json [FILE TREE OUT.json ...]

OUT.json: {"entries": N, "branches": {name: {"type": typename, "values": [...]}}}; floats are
written in Python's repr (exact for float64, and for float32 widened to float64).
"""

import json
import sys

import awkward as ak
import uproot


def dump(path, tree, out):
    with uproot.open(path) as f:
        t = f[tree]
        branches = {}
        for b in t.branches:
            values = ak.to_list(b.array(library="ak"))
            branches[b.name] = {"type": b.typename, "values": values}
        with open(out, "w") as o:
            json.dump({"entries": t.num_entries, "branches": branches}, o)


def main():
    args = sys.argv[1:]
    if len(args) % 3 != 0 or not args:
        sys.exit(__doc__)
    for i in range(0, len(args), 3):
        dump(*args[i : i + 3])


if __name__ == "__main__":
    main()
