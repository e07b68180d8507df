"""The ferrograd.Model API on numpy arrays: training, prediction, checkpoints, the loss and
gradient against a numpy implementation of the same MLP, and bad input raising exceptions.

Run by tests/python.rs (cargo test -p ferrograd-py) with the venv's python."""

import os
import tempfile
import unittest

import numpy as np

import ferrograd


def blobs(n, seed, d=2, shift=1.0):
    """Two Gaussian blobs (unit width) at -shift and +shift on every axis; label 1 = +."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, d)) + np.where(y[:, None] == 1, shift, -shift)
    return x.astype(np.float32), y.astype(np.int64)


def numpy_mlp(params, x, y, w=None):
    """Loss and gradient of Linear → ReLU → Linear → softmax cross-entropy (mean over rows,
    event-weighted with w), in float64: the oracle for the Rust model."""
    W1, b1 = params["fc1.weight"].astype(np.float64), params["fc1.bias"].astype(np.float64)
    W2, b2 = params["fc2.weight"].astype(np.float64), params["fc2.bias"].astype(np.float64)
    x = x.astype(np.float64)
    n = len(y)
    w = np.ones(n) if w is None else w.astype(np.float64)
    pre = x @ W1.T + b1
    h = np.maximum(pre, 0.0)
    logits = h @ W2.T + b2
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    loss = np.mean(w * -np.log(p[np.arange(n), y]))
    d_logits = p.copy()
    d_logits[np.arange(n), y] -= 1.0
    d_logits *= (w / n)[:, None]
    d_h = d_logits @ W2
    d_pre = d_h * (pre > 0)
    grads = {
        "fc2.weight": d_logits.T @ h,
        "fc2.bias": d_logits.sum(axis=0),
        "fc1.weight": d_pre.T @ x,
        "fc1.bias": d_pre.sum(axis=0),
    }
    return loss, grads, p


class RoundTrip(unittest.TestCase):
    def test_fit_reduces_loss_and_separates_blobs(self):
        x, y = blobs(2000, seed=1)
        model = ferrograd.Model.mlp(2, 16, 2, seed=3)
        before = model.loss(x, y)
        losses = model.fit(x, y, epochs=5, batch=32, lr=1e-2, seed=7)
        self.assertEqual(len(losses), 5)
        self.assertEqual(model.history, losses)
        self.assertLess(losses[-1], losses[0])
        after = model.loss(x, y)
        self.assertLess(after, 0.5 * before)
        probs = model.predict(x)
        self.assertEqual(probs.shape, (2000, 2))
        self.assertEqual(probs.dtype, np.float32)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
        # Two unit Gaussians 2·√2 apart: the Bayes accuracy is Φ(√2) = 0.921.
        accuracy = np.mean(probs.argmax(axis=1) == y)
        self.assertGreater(accuracy, 0.89)
        self.assertLess(accuracy, 0.95)

    def test_sgd_and_seeds_are_deterministic(self):
        x, y = blobs(500, seed=2)
        runs = []
        for _ in range(2):
            m = ferrograd.Model.mlp(2, 8, 2, seed=5)
            runs.append((m.fit(x, y, epochs=2, batch=50, lr=0.05, optimizer="sgd", seed=9), m.predict(x)))
        self.assertEqual(runs[0][0], runs[1][0])
        np.testing.assert_array_equal(runs[0][1], runs[1][1])
        other = ferrograd.Model.mlp(2, 8, 2, seed=6)
        self.assertFalse(np.array_equal(other.predict(x), runs[0][1]))

    def test_kernel_threads(self):
        x, y = blobs(1000, seed=6)
        model = ferrograd.Model.mlp(2, 64, 2, seed=2)
        before = model.loss(x, y)
        losses = model.fit(x, y, epochs=2, batch=100, lr=1e-2, threads=2)
        self.assertTrue(all(np.isfinite(losses)))
        self.assertLess(model.loss(x, y), before)
        with self.assertRaises(ValueError) as cm:
            model.fit(x, y, threads=100000)
        self.assertIn("at most 1024", str(cm.exception))

    def test_save_load_gives_identical_predictions(self):
        x, y = blobs(300, seed=3)
        model = ferrograd.Model.mlp(2, 8, 2, seed=1)
        model.fit(x, y, epochs=1, batch=30, lr=1e-2)
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "model.safetensors")
            model.save(path)
            loaded = ferrograd.Model.load(path)
        self.assertEqual(repr(loaded), repr(model))
        np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
        for name, value in model.parameters().items():
            np.testing.assert_array_equal(loaded.parameters()[name], value)

    def test_gw_cnn_predicts_and_round_trips(self):
        rng = np.random.default_rng(0)
        x = rng.normal(size=(6, 256)).astype(np.float32)
        y = np.array([0, 1, 0, 1, 0, 1])
        model = ferrograd.Model.gw_cnn(256, seed=2)
        self.assertEqual((model.input_len, model.classes), (256, 2))
        losses = model.fit(x, y, epochs=2, batch=3, lr=1e-3)
        self.assertTrue(all(np.isfinite(losses)))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "cnn.safetensors")
            model.save(path)
            np.testing.assert_array_equal(ferrograd.Model.load(path).predict(x), model.predict(x))

    def test_inputs_are_converted(self):
        x, y = blobs(64, seed=4)
        model = ferrograd.Model.mlp(2, 4, 2)
        want = model.predict(x)
        np.testing.assert_array_equal(model.predict(x.astype(np.float64)), want)
        np.testing.assert_array_equal(model.predict(np.asfortranarray(x)), want)
        np.testing.assert_array_equal(model.predict(x.tolist()), want)
        np.testing.assert_array_equal(model.predict(np.repeat(x, 2, axis=0)[::2]), want)
        self.assertEqual(model.predict(np.zeros((0, 2), np.float32)).shape, (0, 2))
        # Labels as bools or integral floats.
        self.assertAlmostEqual(model.loss(x, y.astype(bool)), model.loss(x, y.astype(np.float32)), places=6)


class AgreesWithNumpy(unittest.TestCase):
    """The Rust loss, gradient and probabilities equal a float64 numpy MLP on the same weights."""

    def setUp(self):
        rng = np.random.default_rng(11)
        self.x = rng.normal(size=(600, 5)).astype(np.float32)  # 3 chunks of the loss
        self.y = rng.integers(0, 3, 600)
        self.w = rng.uniform(0.2, 2.0, 600).astype(np.float32)
        self.model = ferrograd.Model.mlp(5, 7, 3, seed=4)
        self.model.fit(self.x, self.y, epochs=1, batch=32, lr=1e-2)  # weights away from the init

    def check(self, w):
        loss, grads = self.model.loss_and_grad(self.x, self.y, weight=w)
        want_loss, want_grads, want_p = numpy_mlp(self.model.parameters(), self.x, self.y, w)
        self.assertAlmostEqual(loss, want_loss, delta=1e-5 * abs(want_loss))
        self.assertAlmostEqual(self.model.loss(self.x, self.y, weight=w), loss, places=6)
        self.assertEqual(sorted(grads), sorted(want_grads))
        for name, g in grads.items():
            self.assertEqual(g.shape, want_grads[name].shape, name)
            np.testing.assert_allclose(g, want_grads[name], rtol=1e-4, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(self.model.predict(self.x), want_p, rtol=1e-5, atol=1e-7)

    def test_unweighted(self):
        self.check(None)

    def test_event_weights(self):
        self.check(self.w)


class BadInput(unittest.TestCase):
    def setUp(self):
        self.x, self.y = blobs(40, seed=5, d=3)
        self.model = ferrograd.Model.mlp(3, 4, 2)

    def assertRaisesMsg(self, exc, text, fn, *args, **kwargs):
        with self.assertRaises(exc) as cm:
            fn(*args, **kwargs)
        self.assertIn(text, str(cm.exception))

    def test_shapes_and_lengths(self):
        m, x, y = self.model, self.x, self.y
        self.assertRaisesMsg(ValueError, "[rows, 3]", m.predict, x[:, :2])
        self.assertRaisesMsg(ValueError, "its shape is (120,)", m.predict, x.ravel())
        self.assertRaisesMsg(ValueError, "1-D array of 40 labels", m.fit, x, y[:-1])
        self.assertRaisesMsg(ValueError, "1-D array of 40 weights", m.fit, x, y, weight=np.ones(39))
        self.assertRaisesMsg(ValueError, "batch = 41", m.fit, x, y, batch=41)
        self.assertRaisesMsg(ValueError, "no rows", m.fit, x[:0], y[:0])
        self.assertRaisesMsg(ValueError, "epochs", m.fit, x, y, epochs=0)

    def test_values(self):
        m, x, y = self.model, self.x.copy(), self.y
        bad = x.copy()
        bad[7, 2] = np.nan
        self.assertRaisesMsg(ValueError, "`x[7, 2]` is NaN", m.fit, bad, y)
        self.assertRaisesMsg(ValueError, "`x[7, 2]` is NaN", m.predict, bad)
        bad[7, 2] = np.inf
        self.assertRaisesMsg(ValueError, "inf", m.predict, bad)
        self.assertRaisesMsg(ValueError, "`y[0]` is 2", m.fit, x, np.full(40, 2))
        self.assertRaisesMsg(ValueError, "`y[0]` is -1", m.fit, x, np.full(40, -1))
        self.assertRaisesMsg(ValueError, "`y[0]` is 0.5", m.fit, x, np.full(40, 0.5))
        w = np.ones(40)
        w[3] = np.nan
        self.assertRaisesMsg(ValueError, "`weight[3]` is NaN", m.fit, x, y, weight=w)
        self.assertRaisesMsg(ValueError, "learning rate", m.fit, x, y, batch=10, lr=-1.0)
        self.assertRaisesMsg(ValueError, "rmsprop", m.fit, x, y, batch=10, optimizer="rmsprop")
        self.assertRaisesMsg(TypeError, "dtype is <U1", m.predict, np.full((2, 3), "a"))
        self.assertRaisesMsg(TypeError, "sequence of numbers", m.predict, [[1, 2], [3]])
        self.assertRaises(TypeError, m.predict, None)

    def test_models(self):
        self.assertRaisesMsg(ValueError, "hidden", ferrograd.Model.mlp, 3, 0, 2)
        self.assertRaisesMsg(ValueError, "", ferrograd.Model.gw_cnn, 10)
        self.assertRaises(OverflowError, ferrograd.Model.mlp, -1, 2, 2)
        cnn = ferrograd.Model.gw_cnn(256)
        x = np.zeros((4, 256), np.float32)
        self.assertRaisesMsg(ValueError, "MLP only", cnn.fit, x, [0, 1, 0, 1], batch=2, weight=np.ones(4))

    def test_files(self):
        with tempfile.TemporaryDirectory() as d:
            missing = os.path.join(d, "missing.safetensors")
            self.assertRaisesMsg(FileNotFoundError, "missing.safetensors", ferrograd.Model.load, missing)
            self.assertRaises(OSError, self.model.save, os.path.join(d, "no", "such", "dir.st"))
            junk = os.path.join(d, "junk.safetensors")
            with open(junk, "wb") as f:
                f.write(b"not a checkpoint")
            self.assertRaisesMsg(ValueError, "safetensors", ferrograd.Model.load, junk)
            # A checkpoint of another model shape loads as that model; using it on this data fails.
            path = os.path.join(d, "m.safetensors")
            ferrograd.Model.mlp(5, 4, 2).save(path)
            other = ferrograd.Model.load(path)
            self.assertEqual(other.input_len, 5)
            self.assertRaisesMsg(ValueError, "[rows, 5]", other.predict, self.x)

    def test_diverging_run_keeps_weights(self):
        x = self.x * 1e18
        before = self.model.parameters()
        self.assertRaisesMsg(FloatingPointError, "training diverged", self.model.fit, x, self.y, lr=1e30, optimizer="sgd", batch=40)
        for name, value in self.model.parameters().items():
            np.testing.assert_array_equal(value, before[name])


if __name__ == "__main__":
    unittest.main()
