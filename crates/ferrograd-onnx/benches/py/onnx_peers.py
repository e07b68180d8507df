"""The Python side of scripts/bench-onnx.sh: onnxruntime and PyTorch eager on the test models.

Usage:
  onnx_peers.py export DIR        export the models at bench batch (static shapes) to DIR:
                                  NAME.onnx, NAME.x.npy (the input), NAME.pt (the state dict),
                                  NAME.params.txt (the trainable parameter names)
  onnx_peers.py run DIR THREADS REPS
                                  one line per measurement: `PEER MODEL THREADS KIND MS`
                                  (median over REPS after warm-up)

Same models, weights and inputs as the Rust side (examples/onnx_vs_peers.rs). A training
step is forward + backward of sum(outputs) w.r.t. every parameter + an SGD update, on the
original nn.Module in eval mode (the function the ONNX graph computes: BatchNorm uses its
running statistics).
"""

import os
import sys
import time
import warnings

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "py"))
import make_models as mm  # noqa: E402  (the test models' classes)

warnings.simplefilter("ignore")

# (name, constructor, input shape): realistic batches (64, W2 at 32); the 2D CNN on 32x32.
MODELS = [
    ("mlp", mm.Mlp, (64, 8)),
    ("w2cnn", mm.W2Cnn, (32, 1, 2048)),
    ("cnn2d", mm.Cnn2d, (64, 3, 32, 32)),
    ("block", mm.Block, (64, 5, 8)),
]
LR = 1e-3


def export(out):
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    for name, ctor, shape in MODELS:
        model = ctor().eval()
        x = rng.standard_normal(shape).astype(np.float32)
        torch.onnx.export(model, (torch.from_numpy(x),), os.path.join(out, name + ".onnx"),
                          dynamo=False, opset_version=17, input_names=["x"],
                          output_names=["y"])
        np.save(os.path.join(out, name + ".x.npy"), x)
        torch.save(model.state_dict(), os.path.join(out, name + ".pt"))
        with open(os.path.join(out, name + ".params.txt"), "w") as f:
            f.write("".join(n + "\n" for n, _ in model.named_parameters()))


def median_ms(f, reps):
    for _ in range(3):
        f()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        f()
        ts.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(ts))


def run(out, threads, reps):
    import onnxruntime as ort

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    for name, ctor, _ in MODELS:
        x = np.load(os.path.join(out, name + ".x.npy"))
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sess = ort.InferenceSession(os.path.join(out, name + ".onnx"), opts,
                                    providers=["CPUExecutionProvider"])
        ms = median_ms(lambda: sess.run(None, {"x": x}), reps)
        print(f"ort {name} {threads} infer {ms:.4f}", flush=True)

        model = ctor().eval()
        model.load_state_dict(torch.load(os.path.join(out, name + ".pt")))
        xt = torch.from_numpy(x)

        def infer():
            with torch.no_grad():
                model(xt)

        print(f"torch {name} {threads} infer {median_ms(infer, reps):.4f}", flush=True)
        opt = torch.optim.SGD(model.parameters(), lr=LR)

        def step():
            opt.zero_grad(set_to_none=True)
            model(xt).sum().backward()
            opt.step()

        print(f"torch {name} {threads} train {median_ms(step, reps):.4f}", flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "export":
        export(sys.argv[2])
    else:
        run(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
