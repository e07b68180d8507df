"""JAX worker for bench/run (protocol: protocol.py), run with the JAX venv (scripts/setup-jax.sh).

`python jax_worker.py DATA WORKLOAD`. Training workloads: `jit` of value_and_grad plus the SGD
update inside the jit, f32. W3: x64; W3-grad `jit(value_and_grad(nll))`, W3-hess
`jit(hessian(nll))`. W4: the mini-GPT (stacked per-layer parameters, causal softmax
attention, tanh-approximated GELU, tied output projection) with `jit` of value_and_grad and a
hand-written AdamW update (torch.optim.AdamW's: decoupled decay, bias corrections) inside the
jit.
"""

import math
import os
import sys

# FERROGRAD_BENCH_THREADS: set by the orchestrator (the scaling sweep runs 1 and 2).
_threads = int(os.environ.get("FERROGRAD_BENCH_THREADS", "2"))
os.environ.setdefault(
    "XLA_FLAGS",
    f"--xla_cpu_multi_thread_eigen={'true' if _threads > 1 else 'false'} intra_op_parallelism_threads={_threads}",
)
# XLA's CPU runtime runs its own thread pool whatever the flags above say: with them set for
# one thread, a jitted 256x784x512 product still kept 1.7 CPUs busy (measured with os.times).
# The process's CPU affinity bounds it, so the worker runs on as many CPUs as it is given
# threads (torch.set_num_threads and tch's are kept: 1.00 CPU at one thread, measured alike).
_cpus = sorted(os.sched_getaffinity(0))
if len(_cpus) > _threads:
    os.sched_setaffinity(0, _cpus[:_threads])

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from protocol import load, main_guard, serve  # noqa: E402


def shapes(m):
    if m["kind"] == "mlp":
        i, h, c = m["in"], m["hidden"], m["classes"]
        return [(h, i), (h,), (c, h), (c,)]
    c = m["classes"]
    return [(16, 1, 16), (16,), (32, 16, 8), (32,), (64, 32, 8), (64,), (64, 1856), (64,), (c, 64), (c,)]


def linear(x, w, b):
    return x @ w.T + b


def conv1d(x, w, b):
    y = jax.lax.conv_general_dilated(x, w, (1,), "VALID", dimension_numbers=("NCH", "OIH", "NCH"))
    return y + b[None, :, None]


def pool4(x):
    n, c, length = x.shape
    k = length // 4
    return x[:, :, : 4 * k].reshape(n, c, k, 4).max(axis=-1)


def forward(m, p, x):
    if m["kind"] == "mlp":
        return linear(jax.nn.relu(linear(x, p[0], p[1])), p[2], p[3])
    h = x
    for k in range(3):
        h = pool4(jax.nn.relu(conv1d(h, p[2 * k], p[2 * k + 1])))
    h = h.reshape(h.shape[0], -1)
    return linear(jax.nn.relu(linear(h, p[6], p[7])), p[8], p[9])


def training(m, a):
    flat = a["params"]
    params, off = [], 0
    for s in shapes(m):
        n = int(np.prod(s))
        params.append(jnp.asarray(flat[off:off + n].reshape(s)))
        off += n
    assert off == flat.size, f"{off} parameters in the model, {flat.size} in the file"
    x = jnp.asarray(a["x"])
    if m["kind"] == "cnn":
        x = x.reshape(m["batch"], 1, m["len"])
    y = jnp.asarray(a["y"].astype(np.int32))
    lr = m["lr"]

    def loss(p):
        logp = jax.nn.log_softmax(forward(m, p, x))
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    vg = jax.jit(jax.value_and_grad(loss))

    @jax.jit
    def train_step(p):
        v, g = jax.value_and_grad(loss)(p)
        return v, [pi - lr * gi for pi, gi in zip(p, g)]

    state = {"p": params}

    def check():
        v, g = vg(params)
        return np.concatenate([[float(v)]] + [np.asarray(gi, dtype=np.float64).reshape(-1) for gi in g])

    def step():
        v, state["p"] = train_step(state["p"])
        v.block_until_ready()

    return check, step


def layer_norm(x, w, b, eps=1e-5):
    mu = x.mean(-1, keepdims=True)
    var = jnp.square(x - mu).mean(-1, keepdims=True)
    return (x - mu) * jax.lax.rsqrt(var + eps) * w + b


def gpt_loss(m, p, ids, y):
    (wte, wpe, ln1w, ln1b, qkvw, qkvb, projw, projb,
     ln2w, ln2b, fcw, fcb, fcpw, fcpb, lnfw, lnfb) = p
    b, t = ids.shape
    c, h = m["dim"], m["heads"]
    hd = c // h
    mask = jnp.tril(jnp.ones((t, t), dtype=bool))
    x = wte[ids] + wpe[:t]
    for l in range(m["layers"]):
        a = layer_norm(x, ln1w[l], ln1b[l])
        q, k, v = jnp.split(linear(a, qkvw[l], qkvb[l]), 3, axis=-1)
        q, k, v = (z.reshape(b, t, h, hd) for z in (q, k, v))
        s = jnp.einsum("bthd,bshd->bhts", q, k) / math.sqrt(hd)
        att = jax.nn.softmax(jnp.where(mask, s, -jnp.inf), axis=-1)
        o = jnp.einsum("bhts,bshd->bthd", att, v).reshape(b, t, c)
        x = x + linear(o, projw[l], projb[l])
        mm = layer_norm(x, ln2w[l], ln2b[l])
        x = x + linear(jax.nn.gelu(linear(mm, fcw[l], fcb[l]), approximate=True), fcpw[l], fcpb[l])
    logits = layer_norm(x, lnfw, lnfb) @ wte.T
    logp = jax.nn.log_softmax(logits.reshape(-1, m["vocab"]))
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))


def gpt(m, a):
    flat = a["params"]
    params, off = [], 0
    for s in m["param_shapes"]:
        n = int(np.prod(s))
        params.append(jnp.asarray(flat[off:off + n].reshape(s)))
        off += n
    assert off == flat.size, f"{off} parameters in the model, {flat.size} in the file"
    ids = jnp.asarray(a["x"].astype(np.int32))
    y = jnp.asarray(a["y"].astype(np.int32))
    lr, (b1, b2), eps, wd = m["lr"], m["betas"], m["eps"], m["weight_decay"]

    def loss(p):
        return gpt_loss(m, p, ids, y)

    vg = jax.jit(jax.value_and_grad(loss))

    def train_step(p, m1, m2, t):
        v, g = jax.value_and_grad(loss)(p)
        t = t + 1
        bc1 = 1 - b1 ** t
        bc2 = 1 - b2 ** t
        m1 = [b1 * mi + (1 - b1) * gi for mi, gi in zip(m1, g)]
        m2 = [b2 * vi + (1 - b2) * gi * gi for vi, gi in zip(m2, g)]
        p = [pi * (1 - lr * wd) - (lr / bc1) * mi / (jnp.sqrt(vi) / jnp.sqrt(bc2) + eps)
             for pi, mi, vi in zip(p, m1, m2)]
        return v, p, m1, m2, t

    train_step = jax.jit(train_step, donate_argnums=(0, 1, 2))
    zeros = [jnp.zeros_like(pi) for pi in params]
    state = {"p": [jnp.array(pi) for pi in params], "m1": zeros,
             "m2": [jnp.zeros_like(pi) for pi in params], "t": jnp.asarray(0.0, jnp.float32)}

    def check():
        v, g = vg(params)
        return np.concatenate([[float(v)]] + [np.asarray(gi, dtype=np.float64).reshape(-1) for gi in g])

    def step():
        v, state["p"], state["m1"], state["m2"], state["t"] = train_step(
            state["p"], state["m1"], state["m2"], state["t"])
        v.block_until_ready()

    return check, step


def w3(m, a):
    lo, hi = m["lo"], m["hi"]
    x = jnp.asarray(a["x"])
    p0 = jnp.asarray(a["params"])

    def nll(p):
        mean, sigma, c, frac = p[0], p[1], p[2], p[3]
        s2 = math.sqrt(2.0) * sigma
        erf = jax.scipy.special.erf
        norm_g = sigma * math.sqrt(math.pi / 2) * (erf((hi - mean) / s2) - erf((lo - mean) / s2))
        norm_e = (jnp.exp(c * hi) - jnp.exp(c * lo)) / c
        z = (x - mean) / sigma
        return -jnp.sum(jnp.log(frac / norm_g * jnp.exp(-0.5 * z * z) + (1 - frac) / norm_e * jnp.exp(c * x)))

    if m["mode"] == "grad":
        f = jax.jit(jax.value_and_grad(nll))

        def check():
            v, g = f(p0)
            return np.concatenate([[float(v)], np.asarray(g)])

        def step():
            f(p0)[1].block_until_ready()
    else:
        h = jax.jit(jax.hessian(nll))
        v = jax.jit(nll)

        def check():
            return np.concatenate([[float(v(p0))], np.asarray(h(p0)).reshape(-1)])

        def step():
            h(p0).block_until_ready()

    return check, step


def main():
    data, workload = sys.argv[1:3]
    m, a = load(data, workload)
    if m["kind"] == "nll":
        jax.config.update("jax_enable_x64", True)
    check, step = {"nll": w3, "gpt": gpt}.get(m["kind"], training)(m, a)
    serve(data, workload, "jax", check, step)


if __name__ == "__main__":
    main_guard(main)
