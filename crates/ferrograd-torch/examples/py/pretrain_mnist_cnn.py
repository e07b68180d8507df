"""Pretrains a small MNIST CNN in PyTorch and exports it for examples/finetune_mnist.rs.

Usage: python pretrain_mnist_cnn.py MNIST_DIR OUT_DIR [N_TRAIN]

Trains briefly (one epoch of Adam, batch 64) on the first N_TRAIN (default 2000) training
images, standardised as ferrograd-data does ((p/255 - 0.1307) / 0.3081), then writes:
  OUT_DIR/cnn.pt        the whole CNN, torch.jit.script
  OUT_DIR/backbone.pt   its feature extractor (conv layers, flatten), torch.jit.script
  OUT_DIR/fc_w.npy, fc_b.npy   the classifier layer (for a ferrograd head)
  OUT_DIR/cnn.onnx      the whole CNN, torch.onnx.export (opset 17, dynamic batch)
and prints PyTorch's own test accuracy of the pretrained model.
"""

import os
import sys
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def idx(path, header):
    with open(path, "rb") as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=header)


def load(mnist, images, labels):
    x = idx(os.path.join(mnist, images), 16).reshape(-1, 1, 28, 28)
    x = (x.astype(np.float32) / 255.0 - 0.1307) / 0.3081
    y = idx(os.path.join(mnist, labels), 8).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(1, 8, 5)
        self.c2 = nn.Conv2d(8, 16, 5)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        return torch.flatten(x, 1)


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = Backbone()
        self.fc = nn.Linear(16 * 4 * 4, 10)

    def forward(self, x):
        return self.fc(self.features(x))


def main():
    mnist, out = sys.argv[1], sys.argv[2]
    n_train = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    torch.set_num_threads(2)
    x, y = load(mnist, "train-images-idx3-ubyte", "train-labels-idx1-ubyte")
    x, y = x[:n_train], y[:n_train]
    cnn = Cnn()
    opt = torch.optim.Adam(cnn.parameters(), lr=2e-3)
    perm = torch.randperm(n_train)
    for i in range(0, n_train, 64):
        b = perm[i : i + 64]
        opt.zero_grad()
        F.cross_entropy(cnn(x[b]), y[b]).backward()
        opt.step()
    cnn.eval()
    xt, yt = load(mnist, "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    with torch.no_grad():
        acc = (cnn(xt).argmax(1) == yt).float().mean().item()
    print(f"pytorch: pretrained on {n_train} images, test accuracy {100 * acc:.2f}%")
    torch.jit.script(cnn).save(os.path.join(out, "cnn.pt"))
    torch.jit.script(cnn.features).save(os.path.join(out, "backbone.pt"))
    np.save(os.path.join(out, "fc_w.npy"), cnn.fc.weight.detach().numpy())
    np.save(os.path.join(out, "fc_b.npy"), cnn.fc.bias.detach().numpy())
    # The legacy (TorchScript-based) exporter, as ferrograd-onnx's own tests use.
    warnings.simplefilter("ignore", DeprecationWarning)
    torch.onnx.export(
        cnn, (xt[:2],), os.path.join(out, "cnn.onnx"), dynamo=False, opset_version=17,
        input_names=["x"], output_names=["logits"],
        dynamic_axes={"x": {0: "N"}, "logits": {0: "N"}},
    )


if __name__ == "__main__":
    main()
