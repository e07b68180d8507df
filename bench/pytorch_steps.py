"""PyTorch eager baselines for the fixed workloads of DESIGN.md §7 (W1a, W1b, W2).

One step = forward + loss + backward + SGD update, f32, 2 threads; median of STEPS steps after
WARMUP warm-up steps, all in this one process. Prints one line per workload:
`<name> pytorch-eager <median ms> <peak RSS MiB>` (parsed by bench/run.sh).
"""

import resource
import statistics
import sys
import time

import torch

torch.set_num_threads(2)
WARMUP, STEPS = 20, 200


def mlp(hidden):
    return torch.nn.Sequential(torch.nn.Linear(784, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 10))


def cnn():
    return torch.nn.Sequential(
        torch.nn.Conv1d(1, 16, 16), torch.nn.ReLU(), torch.nn.MaxPool1d(4),
        torch.nn.Conv1d(16, 32, 8), torch.nn.ReLU(), torch.nn.MaxPool1d(4),
        torch.nn.Conv1d(32, 64, 8), torch.nn.ReLU(), torch.nn.MaxPool1d(4),
        torch.nn.Flatten(), torch.nn.Linear(1856, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2),
    )


def bench(name, model, x, y, compile_model=False):
    torch.manual_seed(0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()
    step_model = torch.compile(model) if compile_model else model

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(step_model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(WARMUP):
        step()
    times = []
    for _ in range(STEPS):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    label = "torch-compile" if compile_model else "pytorch-eager"
    print(f"{name} {label} {statistics.median(times):.4f} {rss:.1f}", flush=True)


def main():
    torch.manual_seed(0)
    which = sys.argv[1:] or ["W1a", "W1b", "W2"]
    compile_too = "--compile" in which
    which = [w for w in which if not w.startswith("--")]
    for name in which:
        if name == "W1a":
            args = (mlp(128), torch.randn(64, 784), torch.randint(0, 10, (64,)))
        elif name == "W1b":
            args = (mlp(512), torch.randn(256, 784), torch.randint(0, 10, (256,)))
        elif name == "W2":
            args = (cnn(), torch.randn(32, 1, 2048), torch.randint(0, 2, (32,)))
        else:
            raise SystemExit(f"unknown workload {name}")
        bench(name, *args)
        if compile_too:
            try:
                bench(name, *args, compile_model=True)
            except Exception as e:  # torch.compile needs a C++ toolchain; report, don't hide
                print(f"{name} torch-compile unavailable: {type(e).__name__}: {e}".splitlines()[0], flush=True)


if __name__ == "__main__":
    main()
