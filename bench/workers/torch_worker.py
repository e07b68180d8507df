"""PyTorch eager / torch.compile (inductor) worker for bench/run (protocol: protocol.py).

`python torch_worker.py DATA WORKLOAD {eager,compile}`. Training workloads: one step =
zero_grad + forward + cross-entropy (mean) + backward + SGD update, f32, 2 threads (or FERROGRAD_BENCH_THREADS). W3: the NLL
as vectorised f64 tensor code; W3-grad one value+gradient, W3-hess one Hessian (torch.func).
W4: a GPT module over the stacked parameters (scaled_dot_product_attention with is_causal,
gelu(approximate="tanh"), layer_norm, tied output projection), torch.optim.AdamW on every
parameter; torch.compile compiles the module's forward (loss included).
"""

import math
import os
import sys

import numpy as np
import torch

from protocol import load, main_guard, serve


def mlp(m):
    return torch.nn.Sequential(
        torch.nn.Linear(m["in"], m["hidden"]), torch.nn.ReLU(), torch.nn.Linear(m["hidden"], m["classes"]))


def cnn(m):
    return torch.nn.Sequential(
        torch.nn.Conv1d(1, 16, 16), torch.nn.ReLU(), torch.nn.MaxPool1d(4),
        torch.nn.Conv1d(16, 32, 8), torch.nn.ReLU(), torch.nn.MaxPool1d(4),
        torch.nn.Conv1d(32, 64, 8), torch.nn.ReLU(), torch.nn.MaxPool1d(4),
        torch.nn.Flatten(), torch.nn.Linear(1856, 64), torch.nn.ReLU(), torch.nn.Linear(64, m["classes"]),
    )


class Gpt(torch.nn.Module):
    """The mini-GPT with per-layer tensors stacked over the layers, as the manifest lays them
    out (ferrograd_train::models::gpt::MiniGpt::params): forward returns the mean
    next-token cross-entropy."""

    def __init__(self, m):
        super().__init__()
        self.m = m
        self.ps = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.empty(s)) for s in m["param_shapes"]])

    def forward(self, ids, y):
        m = self.m
        (wte, wpe, ln1w, ln1b, qkvw, qkvb, projw, projb,
         ln2w, ln2b, fcw, fcb, fcpw, fcpb, lnfw, lnfb) = self.ps
        b, t = ids.shape
        c, h = m["dim"], m["heads"]
        F = torch.nn.functional
        x = F.embedding(ids, wte) + wpe[:t]
        for l in range(m["layers"]):
            a = F.layer_norm(x, (c,), ln1w[l], ln1b[l], 1e-5)
            q, k, v = F.linear(a, qkvw[l], qkvb[l]).split(c, dim=-1)
            q, k, v = (z.view(b, t, h, c // h).transpose(1, 2) for z in (q, k, v))
            att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            x = x + F.linear(att.transpose(1, 2).reshape(b, t, c), projw[l], projb[l])
            mm = F.layer_norm(x, (c,), ln2w[l], ln2b[l], 1e-5)
            x = x + F.linear(F.gelu(F.linear(mm, fcw[l], fcb[l]), approximate="tanh"), fcpw[l], fcpb[l])
        logits = F.linear(F.layer_norm(x, (c,), lnfw, lnfb, 1e-5), wte)
        return F.cross_entropy(logits.view(-1, m["vocab"]), y)


def gpt(m, a, compiled):
    model = Gpt(m)
    flat = torch.from_numpy(a["params"].copy())
    off = 0
    with torch.no_grad():
        for p in model.parameters():
            n = p.numel()
            p.copy_(flat[off:off + n].view_as(p))
            off += n
    assert off == flat.numel(), f"{off} parameters in the model, {flat.numel()} in the file"
    ids = torch.from_numpy(a["x"].copy())
    y = torch.from_numpy(a["y"].copy())
    fwd = torch.compile(model) if compiled else model
    b1, b2 = m["betas"]
    opt = torch.optim.AdamW(model.parameters(), lr=m["lr"], betas=(b1, b2), eps=m["eps"],
                            weight_decay=m["weight_decay"])

    def check():
        opt.zero_grad(set_to_none=True)
        loss = fwd(ids, y)
        loss.backward()
        g = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
        return np.concatenate([[loss.item()], g.double().numpy()])

    def step():
        opt.zero_grad(set_to_none=True)
        loss = fwd(ids, y)
        loss.backward()
        opt.step()

    return check, step


def training(m, a, compiled):
    model = mlp(m) if m["kind"] == "mlp" else cnn(m)
    flat = torch.from_numpy(a["params"].copy())
    off = 0
    with torch.no_grad():
        for p in model.parameters():
            n = p.numel()
            p.copy_(flat[off:off + n].view_as(p))
            off += n
    assert off == flat.numel(), f"{off} parameters in the model, {flat.numel()} in the file"
    x = torch.from_numpy(a["x"].copy())
    if m["kind"] == "cnn":
        x = x.view(m["batch"], 1, m["len"])
    y = torch.from_numpy(a["y"].copy())
    fwd = torch.compile(model) if compiled else model
    opt = torch.optim.SGD(model.parameters(), lr=m["lr"])
    loss_fn = torch.nn.CrossEntropyLoss()

    def check():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(fwd(x), y)
        loss.backward()
        g = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
        return np.concatenate([[loss.item()], g.double().numpy()])

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(fwd(x), y)
        loss.backward()
        opt.step()

    return check, step


def w3(m, a, compiled):
    lo, hi = m["lo"], m["hi"]
    x = torch.from_numpy(a["x"].copy())
    p0 = torch.from_numpy(a["params"].copy())

    def nll(p):
        mean, sigma, c, frac = p[0], p[1], p[2], p[3]
        s2 = math.sqrt(2.0) * sigma
        norm_g = sigma * math.sqrt(math.pi / 2) * (torch.erf((hi - mean) / s2) - torch.erf((lo - mean) / s2))
        norm_e = (torch.exp(c * hi) - torch.exp(c * lo)) / c
        z = (x - mean) / sigma
        return -torch.log(frac / norm_g * torch.exp(-0.5 * z * z) + (1 - frac) / norm_e * torch.exp(c * x)).sum()

    if m["mode"] == "grad":
        f = torch.func.grad_and_value(nll)
        f = torch.compile(f) if compiled else f

        def check():
            g, v = f(p0)
            return np.concatenate([[v.item()], g.numpy()])

        def step():
            f(p0)
    else:
        h = torch.func.hessian(nll)
        h = torch.compile(h) if compiled else h

        def check():
            return np.concatenate([[nll(p0).item()], h(p0).reshape(-1).numpy()])

        def step():
            h(p0)

    return check, step


def main():
    data, workload, variant = sys.argv[1:4]
    # FERROGRAD_BENCH_THREADS: set by the orchestrator (the scaling sweep runs 1 and 2).
    torch.set_num_threads(int(os.environ.get("FERROGRAD_BENCH_THREADS", "2")))
    m, a = load(data, workload)
    compiled = variant == "compile"
    framework = "torch-compile" if compiled else "torch-eager"
    check, step = {"nll": w3, "gpt": gpt}.get(m["kind"], training)(m, a, compiled)
    if compiled:
        check()  # compiles here, so that a failing compiler is reported as unavailable
    serve(data, workload, framework, check, step)


if __name__ == "__main__":
    main_guard(main)
