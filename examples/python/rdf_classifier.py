#!/usr/bin/env python3
"""A ferrograd classifier inside a PyROOT analysis.

1. Writes a ROOT file of signal/background events with ROOT itself: two Gaussian blobs of
   unit width in (x, y), at (+1, +1) for signal and (-1, -1) for background.
2. Selects events with an RDataFrame (Filter, Define) and trains a ferrograd MLP on it with
   ferrograd.fit_rdf (training runs in Rust, with the GIL released).
3. Scores the held-out events, hands the scores back to ROOT with ROOT.RDF.FromNumpy,
   writes them to a tree and draws the score of signal and background into a PNG.

Prints `accuracy: A`, `AUC: X`, `predictions: FILE`, `plot: FILE`. The blobs are 2·√2 apart,
so the best possible accuracy is Φ(√2) = 0.921 and the best AUC Φ(2) = 0.977.

    source scripts/env.sh && scripts/setup-python.sh     # once: ROOT + the ferrograd module
    python examples/python/rdf_classifier.py --out out/rdf
"""

import argparse
import os

import numpy as np

import ferrograd


def roc_auc(score, label):
    """Probability that a random signal event scores above a random background one (ties ½)."""
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    ranks[order] = np.arange(1, len(score) + 1)
    # Average the ranks of tied scores.
    _, inverse, counts = np.unique(score, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]
    pos = label == 1
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def make_events(ROOT, path, events, seed):
    """The toy sample, written by ROOT (RDataFrame Snapshot)."""
    ROOT.gRandom.SetSeed(seed)
    df = (
        ROOT.RDataFrame(events)
        .Define("label", "int(gRandom->Rndm() < 0.5)")
        .Define("x", "gRandom->Gaus(label ? 1.0 : -1.0, 1.0)")
        .Define("y", "gRandom->Gaus(label ? 1.0 : -1.0, 1.0)")
        .Define("event", "rdfentry_")
    )
    df.Snapshot("events", path, ["event", "label", "x", "y"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="out/rdf_classifier", help="output directory")
    parser.add_argument("--events", type=int, default=40000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    import ROOT  # after argparse: --help does not need ROOT

    ROOT.gROOT.SetBatch(True)
    events_file = os.path.join(args.out, "events.root")
    make_events(ROOT, events_file, args.events, args.seed)

    df = (
        ROOT.RDataFrame("events", events_file)
        .Filter("abs(x) < 6 && abs(y) < 6", "inside the detector")
        .Define("r", "sqrt(x*x + y*y)")
        .Define("weight", "1.0f")
    )
    train = df.Filter("event % 4 != 0", "training events")
    test = df.Filter("event % 4 == 0", "test events")
    features = ["x", "y", "r"]

    model = ferrograd.fit_rdf(
        train, features=features, target="label", weight="weight",
        hidden=16, epochs=args.epochs, batch=64, lr=1e-2, seed=args.seed,
    )
    print(f"model: {model!r}, training loss per epoch: "
          + ", ".join(f"{loss:.4f}" for loss in model.history))

    x, label, _ = ferrograd.columns_to_numpy(test, features, target="label")
    event = test.AsNumpy(["event"])["event"]
    score = model.predict(x)[:, 1]
    accuracy = float(np.mean((score > 0.5) == (label == 1)))
    auc = float(roc_auc(score, label))

    # The scores go back into ROOT as a data frame of their own, then to a tree and a plot.
    scored = ROOT.RDF.FromNumpy({
        "event": np.ascontiguousarray(event, dtype=np.uint64),
        "label": np.ascontiguousarray(label, dtype=np.int32),
        "score": np.ascontiguousarray(score, dtype=np.float32),
    })
    predictions = os.path.join(args.out, "predictions.root")
    scored.Snapshot("predictions", predictions)
    h_sig = scored.Filter("label == 1").Histo1D(("sig", "ferrograd MLP score;score;events", 50, 0.0, 1.0), "score")
    h_bkg = scored.Filter("label == 0").Histo1D(("bkg", "ferrograd MLP score;score;events", 50, 0.0, 1.0), "score")
    canvas = ROOT.TCanvas("c", "score", 800, 600)
    canvas.SetLogy()
    h_sig.SetLineColor(ROOT.kRed + 1)
    h_bkg.SetLineColor(ROOT.kBlue + 1)
    h_bkg.SetStats(False)
    h_bkg.Draw("HIST")
    h_sig.Draw("HIST SAME")
    legend = ROOT.TLegend(0.4, 0.75, 0.6, 0.88)
    legend.AddEntry(h_sig.GetPtr(), "signal", "l")
    legend.AddEntry(h_bkg.GetPtr(), "background", "l")
    legend.Draw()
    plot = os.path.join(args.out, "score.png")
    canvas.SaveAs(plot)

    print(f"test events: {len(score)}")
    print(f"accuracy: {accuracy:.4f}")
    print(f"AUC: {auc:.4f}")
    print(f"predictions: {predictions}")
    print(f"plot: {plot}")


if __name__ == "__main__":
    main()
