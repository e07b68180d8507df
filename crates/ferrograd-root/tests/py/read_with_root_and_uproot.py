"""Reads a tree with real ROOT (RDataFrame, which reads through TTreeReader) and with uproot,
for ferrograd-root's writer tests; fails on any ROOT error message.

usage: read_with_root_and_uproot.py FILE TREE OUT.json [FILE TREE OUT.json ...]
       read_with_root_and_uproot.py --friend FILE TREE FRIEND_FILE FRIEND_TREE COLUMN OUT.json

OUT.json: {"root": {branch: [values]}, "uproot": {branch: [values]}, "entries": N}
With --friend: {"entries": N, "matching": entries where FRIEND_TREE.index == the entry number and
FRIEND_TREE.COLUMN equals the main tree's COLUMN, "mean_prediction": mean of
FRIEND_TREE.prediction, read through the friend}
"""

import json
import sys

import awkward as ak
import ROOT
import uproot

ROOT.gROOT.SetBatch(True)
ROOT.gErrorIgnoreLevel = ROOT.kWarning


def as_list(x):
    try:
        return [as_list(v) for v in x]
    except TypeError:
        return x.item() if hasattr(x, "item") else x


def read(path, tree, out):
    f = ROOT.TFile.Open(path)
    if not f or f.IsZombie():
        sys.exit(f"ROOT cannot open {path}")
    t = f.Get(tree)
    if not t:
        sys.exit(f"ROOT finds no tree {tree} in {path}")
    names = [b.GetName() for b in t.GetListOfBranches()]
    df = ROOT.RDataFrame(t)
    # PyROOT's AsNumpy cannot take Char_t columns: read those through an int column.
    cols = {}
    for n in names:
        if t.GetBranch(n).GetLeaf(n).GetTypeName() == "Char_t":
            df = df.Define(f"{n}__int", f"int({n})")
            cols[n] = f"{n}__int"
        else:
            cols[n] = n
    arrays = df.AsNumpy(list(cols.values()))
    result = {"entries": int(t.GetEntries()), "root": {}, "uproot": {}}
    for n in names:
        result["root"][n] = [as_list(v) for v in arrays[cols[n]]]
    with uproot.open(path) as u:
        ut = u[tree]
        for n in names:
            result["uproot"][n] = ak.to_list(ut[n].array(library="ak"))
    with open(out, "w") as o:
        json.dump(result, o)


def friend(path, tree, friend_path, friend_tree, column, out):
    f = ROOT.TFile.Open(path)
    t = f.Get(tree)
    t.AddFriend(friend_tree, friend_path)
    df = ROOT.RDataFrame(t)
    good = df.Filter(f"{friend_tree}.index == rdfentry_ && {friend_tree}.{column} == {column}").Count()
    mean = df.Mean(f"{friend_tree}.prediction")
    result = {"entries": int(t.GetEntries()), "matching": int(good.GetValue()), "mean_prediction": mean.GetValue()}
    with open(out, "w") as o:
        json.dump(result, o)


def main():
    args = sys.argv[1:]
    if args and args[0] == "--friend" and len(args) == 7:
        friend(*args[1:])
        return
    if len(args) % 3 != 0 or not args:
        sys.exit(__doc__)
    for i in range(0, len(args), 3):
        read(*args[i : i + 3])


if __name__ == "__main__":
    main()
