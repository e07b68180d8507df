"""Test models and oracles for crates/ferrograd-torch/tests/torchscript.rs.

Usage: python make_torchscript.py OUT_DIR

Writes, with real PyTorch (fixed seeds, float32):
  cnn_scripted.pt / cnn_traced.pt   a small CNN (conv, ReLU, max-pool, flatten, linear, ReLU,
                                    linear) as torch.jit.script and torch.jit.trace output;
  backbone.pt                       its feature extractor (everything but the last linear),
                                    scripted;
  x.npy, labels.npy                 a batch [N,1,8,8] float32 and int64 class labels;
  logits.npy                        the CNN's output on x (eager PyTorch);
  step/<param>.npy                  the CNN's parameters after one SGD step (lr 0.1) on the
                                    mean cross-entropy of (x, labels);
  head_w.npy, head_b.npy            a linear head [3,16], [3];
  mixed/<name>.npy                  autograd of CE(head(backbone(x)), labels): d_head_w,
                                    d_head_b and d_<backbone param> (dots as underscores).
"""

import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Backbone(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 3 * 3, 16)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.conv(x)), 2)
        return F.relu(self.fc(torch.flatten(h, 1)))


class Cnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = Backbone()
        self.out = nn.Linear(16, 3)

    def forward(self, x):
        return self.out(self.features(x))


def save(path, t):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.save(path, t.detach().numpy())


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    cnn = Cnn().eval()
    x = torch.randn(5, 1, 8, 8)
    labels = torch.tensor([0, 2, 1, 2, 0])
    save(f"{out}/x.npy", x)
    save(f"{out}/labels.npy", labels)
    torch.jit.script(cnn).save(f"{out}/cnn_scripted.pt")
    torch.jit.trace(cnn, x).save(f"{out}/cnn_traced.pt")
    torch.jit.script(cnn.features).save(f"{out}/backbone.pt")
    with torch.no_grad():
        save(f"{out}/logits.npy", cnn(x))

    # Mixed model: the scripted backbone's features through a separate linear head.
    head_w = torch.randn(3, 16) * 0.3
    head_b = torch.randn(3) * 0.1
    save(f"{out}/head_w.npy", head_w)
    save(f"{out}/head_b.npy", head_b)
    hw = head_w.clone().requires_grad_(True)
    hb = head_b.clone().requires_grad_(True)
    xg = x.clone().requires_grad_(True)
    loss = F.cross_entropy(F.linear(cnn.features(xg), hw, hb), labels)
    loss.backward()
    save(f"{out}/mixed/d_head_w.npy", hw.grad)
    save(f"{out}/mixed/d_head_b.npy", hb.grad)
    save(f"{out}/mixed/d_x.npy", xg.grad)
    for name, p in cnn.features.named_parameters():
        save(f"{out}/mixed/d_{name.replace('.', '_')}.npy", p.grad)
    cnn.zero_grad()

    # Mixed-model training: 5 SGD steps (lr 0.1) of backbone and head together on (x,
    # labels), on copies (the originals feed the checks below).
    bb = torch.jit.load(f"{out}/backbone.pt")
    hw = head_w.clone().requires_grad_(True)
    hb = head_b.clone().requires_grad_(True)
    opt = torch.optim.SGD(list(bb.parameters()) + [hw, hb], lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        F.cross_entropy(F.linear(bb(x), hw, hb), labels).backward()
        opt.step()
    save(f"{out}/trained/head_w.npy", hw)
    save(f"{out}/trained/head_b.npy", hb)
    for name, p in bb.named_parameters():
        save(f"{out}/trained/{name.replace('.', '_')}.npy", p)

    # One SGD step of the whole CNN (done last: it changes the parameters).
    opt = torch.optim.SGD(cnn.parameters(), lr=0.1)
    opt.zero_grad()
    F.cross_entropy(cnn(x), labels).backward()
    opt.step()
    for name, p in cnn.named_parameters():
        save(f"{out}/step/{name.replace('.', '_')}.npy", p)


if __name__ == "__main__":
    main()
