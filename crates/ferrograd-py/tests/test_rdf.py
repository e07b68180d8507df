"""ferrograd.fit_rdf on PyROOT RDataFrames, and examples/python/rdf_classifier.py end to end
(its printed accuracy and AUC, its predictions tree and its PNG).

Run by tests/python.rs (cargo test -p ferrograd-py) with the venv's python (ROOT 6.40)."""

import os
import re
import subprocess
import sys
import tempfile
import unittest

import numpy as np

import ferrograd

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
EXAMPLE = os.path.join(REPO, "examples", "python", "rdf_classifier.py")

import ROOT  # noqa: E402  (after numpy: the module under test does not need ROOT)

ROOT.gROOT.SetBatch(True)


def blob_frame(n):
    """In-memory frame: label alternates, x/y/z shifted by ±1 with deterministic noise."""
    return (
        ROOT.RDataFrame(n)
        .Define("label", "int(rdfentry_ % 2)")
        .Define("noise", "TMath::Sin(12.9898 * rdfentry_) * 43758.5453")
        .Define("u", "noise - floor(noise) - 0.5")
        .Define("x", "(label ? 1.0 : -1.0) + 2.0 * u")
        .Define("y", "(label ? 1.0 : -1.0) - 2.0 * u")
        .Define("flag", "label == 1")
        .Define("w", "1.0")
        .Define("arr", "ROOT::RVecF{float(x), float(y)}")
    )


class FitRdf(unittest.TestCase):
    def test_trains_from_columns(self):
        df = blob_frame(2000)
        model = ferrograd.fit_rdf(df, features=["x", "y"], target="label", weight="w",
                                  hidden=8, epochs=3, batch=50, lr=1e-2, seed=3)
        self.assertEqual((model.input_len, model.classes), (2, 2))
        self.assertEqual(len(model.history), 3)
        x, y, w = ferrograd.columns_to_numpy(df, ["x", "y"], target="label", weight="w")
        self.assertEqual(x.shape, (2000, 2))
        self.assertEqual(x.dtype, np.float32)
        np.testing.assert_array_equal(y, np.arange(2000) % 2)
        np.testing.assert_array_equal(w, np.ones(2000, np.float32))
        # The blobs overlap only where |u| is large: nearly all points are separable.
        accuracy = np.mean(model.predict(x).argmax(axis=1) == y)
        self.assertGreater(accuracy, 0.95)

    def test_bool_target_array_column_and_continued_training(self):
        df = blob_frame(400).Filter("rdfentry_ < 300")
        model = ferrograd.fit_rdf(df, features=["arr"], target="flag", epochs=1, batch=30)
        self.assertEqual(model.input_len, 2)
        x_arr, _, _ = ferrograd.columns_to_numpy(df, ["arr"])
        x_cols, _, _ = ferrograd.columns_to_numpy(df, ["x", "y"])
        np.testing.assert_array_equal(x_arr, x_cols)
        self.assertEqual(len(x_arr), 300)
        again = ferrograd.fit_rdf(df, features=["x", "y"], target="label", model=model, epochs=2, batch=30)
        self.assertIs(again, model)
        self.assertEqual(len(model.history), 2)

    def test_bad_input(self):
        df = blob_frame(100)
        with self.assertRaises(KeyError) as cm:
            ferrograd.fit_rdf(df, features=["x", "nope"], target="label")
        self.assertIn("nope", str(cm.exception))
        with self.assertRaises(KeyError):
            ferrograd.fit_rdf(df, features=["x"], target="missing_target")
        with self.assertRaises(ValueError) as cm:
            ferrograd.fit_rdf(df.Filter("x > 100"), features=["x"], target="label")
        self.assertIn("no rows", str(cm.exception))
        with self.assertRaises(ValueError) as cm:  # a model of the wrong shape
            ferrograd.fit_rdf(df, features=["x", "y"], target="label", model=ferrograd.Model.mlp(3, 4, 2))
        self.assertIn("[rows, 3]", str(cm.exception))
        nan = df.Define("bad", "rdfentry_ == 5 ? std::nan(\"\") : x")
        with self.assertRaises(ValueError) as cm:
            ferrograd.fit_rdf(nan, features=["bad"], target="label")
        self.assertIn("`x[5, 0]` is NaN", str(cm.exception))
        with self.assertRaises(TypeError):
            ferrograd.fit_rdf(df, features=["x"], target="label", model="mlp")


class Example(unittest.TestCase):
    def test_rdf_classifier(self):
        with tempfile.TemporaryDirectory() as out:
            run = subprocess.run(
                [sys.executable, EXAMPLE, "--out", out, "--events", "20000", "--epochs", "4"],
                capture_output=True, text=True, timeout=600,
            )
            self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
            values = dict(re.findall(r"^(accuracy|AUC|test events|predictions|plot): (.+)$",
                                     run.stdout, re.M))
            self.assertEqual(sorted(values), ["AUC", "accuracy", "plot", "predictions", "test events"], run.stdout)
            # Two unit Gaussians 2·√2 apart: at best accuracy Φ(√2) = 0.921, AUC Φ(2) = 0.977;
            # the test sample (5,000 events) has a statistical spread of about ±0.004.
            self.assertGreater(float(values["accuracy"]), 0.90)
            self.assertLess(float(values["accuracy"]), 0.94)
            self.assertGreater(float(values["AUC"]), 0.965)
            self.assertLess(float(values["AUC"]), 0.99)
            n_test = int(values["test events"])
            self.assertGreater(n_test, 4500)
            self.assertLess(n_test, 5500)
            # The scores are in a ROOT tree, one per test event, with the events' labels.
            scored = ROOT.RDataFrame("predictions", values["predictions"])
            self.assertEqual(scored.Count().GetValue(), n_test)
            cols = scored.AsNumpy(["score", "label", "event"])
            self.assertTrue(np.all((cols["score"] >= 0) & (cols["score"] <= 1)))
            self.assertTrue(np.all(cols["event"] % 4 == 0))
            signal = cols["label"] == 1
            self.assertGreater(cols["score"][signal].mean(), 0.7)
            self.assertLess(cols["score"][~signal].mean(), 0.3)
            with open(values["plot"], "rb") as f:
                png = f.read()
            self.assertTrue(png.startswith(b"\x89PNG\r\n\x1a\n"))
            self.assertGreater(len(png), 5000)


if __name__ == "__main__":
    unittest.main()
