"""Export the ferrograd-onnx test models with real PyTorch and compute the oracles.

Usage: make_models.py OUT_DIR

For each model NAME it writes
  OUT_DIR/NAME.onnx                 torch.onnx.export (TorchScript exporter, dynamo=False)
  OUT_DIR/NAME/inputs/<input>.npy   the inputs (fixed seeds)
  OUT_DIR/NAME/ort/<output>.npy     onnxruntime's outputs
  OUT_DIR/NAME/torch/<output>.npy   the original model's outputs
  OUT_DIR/NAME/grad/<name>.npy      torch autograd: d sum(outputs) / d every input, parameter
                                    and float buffer, named like the ONNX initializer
                                    (characters outside [A-Za-z0-9._-] replaced by `_`)
"""

import math
import os
import re
import sys
import warnings

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort
import torch
from torch import nn
import torch.nn.functional as F

warnings.simplefilter("ignore")
torch.manual_seed(0)
torch.use_deterministic_algorithms(True)


def safe(name):
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.fc2 = nn.Linear(16, 16)
        self.fc3 = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc3(torch.tanh(self.fc2(torch.relu(self.fc1(x)))))


class W2Cnn(nn.Module):
    """The W2 1D CNN: input [N, 1, 2048], two logits."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv1d(1, 16, 16)
        self.c2 = nn.Conv1d(16, 32, 8)
        self.c3 = nn.Conv1d(32, 64, 8)
        self.fc1 = nn.Linear(1856, 64)
        self.fc2 = nn.Linear(64, 2)

    def forward(self, x):
        x = F.max_pool1d(torch.relu(self.c1(x)), 4)
        x = F.max_pool1d(torch.relu(self.c2(x)), 4)
        x = F.max_pool1d(torch.relu(self.c3(x)), 4)
        x = torch.flatten(x, 1)
        return self.fc2(torch.relu(self.fc1(x)))


class Cnn2d(nn.Module):
    """A small 2D CNN with BatchNorm in eval mode (ReLU between conv and BN so the exporter
    cannot fold BN into the conv)."""

    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.bn2 = nn.BatchNorm2d(16)
        self.fc = nn.Linear(16, 4)

    def forward(self, x):
        x = F.max_pool2d(self.bn1(torch.relu(self.c1(x))), 2)
        x = F.avg_pool2d(self.bn2(F.leaky_relu(self.c2(x), 0.1)), 2, ceil_mode=False)
        x = F.adaptive_avg_pool2d(x, 1)
        x = torch.flatten(x, 1)
        return torch.log_softmax(self.fc(x), dim=1)


class Block(nn.Module):
    """LayerNorm, GELU (exported as Erf), attention-style MatMul/Softmax, Concat, Reshape."""

    def __init__(self, d=8, t=5):
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.wq = nn.Parameter(torch.randn(d, d) / math.sqrt(d))
        self.wk = nn.Parameter(torch.randn(d, d) / math.sqrt(d))
        self.wv = nn.Parameter(torch.randn(d, d) / math.sqrt(d))
        self.out = nn.Linear(t * 2 * d, 3)
        self.d, self.t = d, t

    def forward(self, x):
        h = self.ln(x)
        q, k, v = h @ self.wq, h @ self.wk, h @ self.wv
        att = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(self.d), dim=-1)
        o = torch.cat([att @ v, h], dim=-1)
        o = F.gelu(o)
        o = o.reshape(x.shape[0], self.t * 2 * self.d)
        return self.out(o)


def bn_formula(m):
    def forward(x):
        shape = (1, -1) + (1,) * (x.dim() - 2)
        inv = torch.rsqrt(m.running_var + m.eps).reshape(shape)
        return (x - m.running_mean.reshape(shape)) * inv * m.weight.reshape(shape) + m.bias.reshape(shape)

    return forward


def total(y):
    """sum(all outputs): what the gradients are of."""
    return sum(t.sum() for t in y) if isinstance(y, tuple) else y.sum()


def make(out, name, model, inputs, opset, dynamic_batch=False, n_out=1):
    model.eval()
    in_names = list(inputs)
    out_names = ["y"] if n_out == 1 else [f"y{i}" for i in range(n_out)]
    args = tuple(torch.from_numpy(a) for a in inputs.values())
    path = os.path.join(out, name + ".onnx")
    dyn = {n: {0: "N"} for n in in_names + out_names} if dynamic_batch else None
    torch.onnx.export(
        model, args, path, dynamo=False, opset_version=opset, input_names=in_names,
        output_names=out_names, dynamic_axes=dyn,
    )
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    inits = {i.name for i in proto.graph.initializer}

    d = os.path.join(out, name)
    for sub in ("inputs", "ort", "torch", "grad"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    for n, a in inputs.items():
        np.save(os.path.join(d, "inputs", n + ".npy"), a)

    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for o, v in zip(sess.get_outputs(), sess.run(None, inputs)):
        np.save(os.path.join(d, "ort", o.name + ".npy"), v)

    # Autograd on the original model: d sum(outputs) / d inputs and parameters.
    xs = [a.clone().requires_grad_(a.is_floating_point()) for a in args]
    y = model(*xs)
    for n, t in zip(out_names, y if isinstance(y, tuple) else (y,)):
        np.save(os.path.join(d, "torch", n + ".npy"), t.detach().numpy())
    total(y).backward()
    for n, x in zip(in_names, xs):
        if x.is_floating_point():
            np.save(os.path.join(d, "grad", safe(n) + ".npy"), x.grad.numpy())
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    model.zero_grad()
    # BatchNorm's running statistics: torch refuses them as differentiable arguments, so a
    # second pass computes eval-mode BN by its formula, the same function of the buffers.
    bufs = {n: b for n, b in model.named_buffers() if b.is_floating_point()}
    if bufs:
        for b in bufs.values():
            b.requires_grad_(True)
        patched = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        for m in patched:
            m.forward = bn_formula(m)
        total(model(*args)).backward()
        grads.update({n: b.grad for n, b in bufs.items()})
    for n, g in grads.items():
        if n not in inits:
            raise SystemExit(f"{name}: parameter {n} is not an ONNX initializer ({sorted(inits)})")
        np.save(os.path.join(d, "grad", safe(n) + ".npy"), g.numpy())
    ops = sorted({n.op_type for n in proto.graph.node})
    print(f"{name}: opset {opset}, ops {ops}")


class Misc(nn.Module):
    """The remaining ops: grouped/strided/dilated/padded Conv1d, padded AveragePool, Sigmoid,
    Sqrt, Log, Exp, Neg, Sub, Pow, tanh-GELU (opset 20 `Gelu`), ReduceMean, ReduceSum,
    Unsqueeze, Squeeze, Gather on a weight with an int64 input, two outputs."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2)
        self.emb = nn.Parameter(torch.randn(10, 5))

    def forward(self, x, idx):
        h = self.conv(x)
        h = F.avg_pool1d(h, 3, stride=2, padding=1)
        sq = h * h + 1.0
        a = torch.sigmoid(h) - torch.sqrt(sq) + torch.log(sq) + 0.1 * torch.exp(-h) + 0.01 * h**3
        a = F.gelu(a, approximate="tanh")
        m = a.mean(dim=2, keepdim=True)
        s = ((a - m) * a).sum(dim=1)
        e = self.emb[idx].unsqueeze(0)
        t = (e * e).sum(dim=2).squeeze(0)
        return s, t * torch.softmax(t, dim=0)  # not softmax alone: its sum has no gradient


def error_models(out):
    """Models that must be refused with a clear error."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="relu0"),
        helper.make_node("Einsum", ["a"], ["b"], name="einsum0", equation="ij->ji"),
        helper.make_node("Relu", ["b"], ["c"], name="relu1"),
        helper.make_node("NonZero", ["c"], ["y"], name="nonzero0"),
    ]
    g = helper.make_graph(nodes, "unknown_ops", [x], [y])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, os.path.join(out, "unknown_ops.onnx"))

    # Keras-style names (`dense/kernel:0`): the CLI writes them as `dense_kernel_0.npy`.
    rng = np.random.default_rng(3)
    inp = helper.make_tensor_value_info("input:0", TensorProto.FLOAT, ["batch", 4])
    outp = helper.make_tensor_value_info("dense/Sigmoid:0", TensorProto.FLOAT, ["batch", 2])
    kernel = onnx.numpy_helper.from_array(rng.standard_normal((4, 2)).astype(np.float32), "dense/kernel:0")
    bias = onnx.numpy_helper.from_array(rng.standard_normal(2).astype(np.float32), "dense/bias:0")
    nodes = [
        helper.make_node("MatMul", ["input:0", "dense/kernel:0"], ["dense/MatMul:0"], name="dense/MatMul"),
        helper.make_node("Add", ["dense/MatMul:0", "dense/bias:0"], ["dense/BiasAdd:0"], name="dense/BiasAdd"),
        helper.make_node("Sigmoid", ["dense/BiasAdd:0"], ["dense/Sigmoid:0"], name="dense/Sigmoid"),
    ]
    g = helper.make_graph(nodes, "keras_names", [inp], [outp], initializer=[kernel, bias])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), os.path.join(out, "keras_names.onnx"))
    np.save(os.path.join(out, "keras_names_input.npy"), rng.standard_normal((3, 4)).astype(np.float32))

    mlp = onnx.load(os.path.join(out, "mlp.onnx"))
    for version in (12, 22):
        m = onnx.ModelProto()
        m.CopyFrom(mlp)
        m.opset_import[0].version = version
        onnx.save(m, os.path.join(out, f"opset{version}.onnx"))
    onnx.save(mlp, os.path.join(out, "external.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="external.bin", size_threshold=0)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1)

    def randn(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    make(out, "mlp", Mlp(), {"x": randn(4, 8)}, 13, dynamic_batch=True)
    make(out, "w2cnn", W2Cnn(), {"x": randn(2, 1, 2048)}, 17)
    cnn = Cnn2d()
    with torch.no_grad():  # non-trivial running statistics, as after training
        for bn in (cnn.bn1, cnn.bn2):
            bn.running_mean.copy_(torch.randn_like(bn.running_mean) * 0.1)
            bn.running_var.copy_(torch.rand_like(bn.running_var) + 0.5)
            bn.weight.copy_(torch.rand_like(bn.weight) + 0.5)
            bn.bias.copy_(torch.randn_like(bn.bias) * 0.1)
    make(out, "cnn2d", cnn, {"x": randn(2, 3, 12, 12)}, 17)
    make(out, "block", Block(), {"x": randn(2, 5, 8)}, 17)
    # Dynamic batch: the reshape goes through Shape → Gather → Unsqueeze → Concat on int64.
    make(out, "block_dyn", Block(), {"x": randn(3, 5, 8)}, 17, dynamic_batch=True)
    make(out, "w2cnn_dyn", W2Cnn(), {"x": randn(3, 1, 2048)}, 18, dynamic_batch=True)
    idx = np.array([3, 0, 9, 3], dtype=np.int64)
    make(out, "misc", Misc(), {"x": randn(2, 4, 21), "idx": idx}, 20, n_out=2)
    error_models(out)


if __name__ == "__main__":
    main()
