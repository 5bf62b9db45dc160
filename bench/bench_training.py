#!/usr/bin/env python
"""Benchmark one training step (forward, backward, optimizer update) of an MLP with a
SoftmaxCE loss: minigluon eager and hybridized against PyTorch eager, torch.compile and an
optax-free jax.jit of the same step. Every peer starts from the same weights and takes one
step on the same batch; the loss each then reports on that batch is checked against
minigluon eager's before anything is timed.

    python bench/bench_training.py                      # 784-256-10, batch 64 and 256, sgd + adam
    python bench/bench_training.py --quick              # batch 64, sgd only, short timings
    python bench/bench_training.py --layers 10,128,64,10 --batches 10,64  # the convergence MLP

torch and jax are optional: a peer that does not import gets '—'. See bench/README.md.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# bench_losses fixes the thread count (from --threads) before numpy loads, and puts this
# checkout first on sys.path; its timing and formatting helpers are shared
from bench_losses import DASH, THREADS, fmt_ratio, fmt_time, machine_lines, measure  # noqa: E402

# isort: split
import numpy as np  # noqa: E402

RTOL, ATOL = 2e-4, 1e-5
OPTIMIZERS = {  # MXNet's names and arguments; the peers implement the same rules
    "sgd": {"learning_rate": 0.1, "momentum": 0.9},
    "adam": {"learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
}


def init_weights(sizes: list[int], seed: int = 0) -> list[np.ndarray]:
    """[W0, b0, W1, b1, ...] with W of shape (out, in), as Dense and torch.nn.Linear hold it."""
    rng = np.random.RandomState(seed)
    out = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        bound = np.sqrt(6.0 / (n_in + n_out))
        out += [rng.uniform(-bound, bound, (n_out, n_in)).astype(np.float32),
                rng.uniform(-0.1, 0.1, n_out).astype(np.float32)]
    return out


def make_batch(batch: int, n_in: int, n_class: int, seed: int = 1):
    rng = np.random.RandomState(seed)
    return (rng.uniform(-1, 1, (batch, n_in)).astype(np.float32),
            rng.randint(0, n_class, batch).astype(np.int64))


# ---------------------------------------------------------------------------------------
# Peers: each returns (step, loss_now), step() one training step, loss_now() the mean loss
# on the batch at the current weights.
# ---------------------------------------------------------------------------------------


def minigluon_peer(mg, sizes, weights, x, y, opt, hybridize):
    nn = mg.gluon.nn
    net = nn.HybridSequential()
    for k, n_out in enumerate(sizes[1:]):
        last = k == len(sizes) - 2
        net.add(nn.Dense(n_out, activation=None if last else "relu", in_units=sizes[k]))
    net.initialize()
    for k, layer in enumerate(net):
        layer.weight.set_data(weights[2 * k])
        layer.bias.set_data(weights[2 * k + 1])
    return mg_steps(mg, net, x, y, hybridize, opt, dict(OPTIMIZERS[opt]))


def mg_steps(mg, net, x, y, hybridize: bool, opt: str, opt_args: dict):
    """(step, loss_now) of a gluon net trained on (x, y) with SoftmaxCrossEntropyLoss and
    a Trainer running opt."""
    loss = mg.gluon.loss.SoftmaxCrossEntropyLoss()
    if hybridize:
        net.hybridize()
        loss.hybridize()
    trainer = mg.gluon.Trainer(net.collect_params(), opt, opt_args)
    xd, yd = mg.nd.array(x), mg.nd.array(y.astype(np.float32))
    batch = x.shape[0]

    def step():
        with mg.autograd.record():
            out = loss(net(xd), yd)
        out.backward()
        trainer.step(batch)

    def loss_now():
        return float(loss(net(xd), yd).mean().asscalar())
    return step, loss_now


def torch_peer(torch, sizes, weights, x, y, opt, compiled):
    layers = []
    for k, n_out in enumerate(sizes[1:]):
        lin = torch.nn.Linear(sizes[k], n_out)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(weights[2 * k]))
            lin.bias.copy_(torch.from_numpy(weights[2 * k + 1]))
        layers += [lin, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    args = OPTIMIZERS[opt]
    if opt == "sgd":  # MXNet's momentum buffer is torch's times -lr: the same steps
        optim = torch.optim.SGD(model.parameters(), lr=args["learning_rate"],
                                momentum=args["momentum"])
    else:
        optim = torch.optim.Adam(model.parameters(), lr=args["learning_rate"],
                                 betas=(args["beta1"], args["beta2"]), eps=args["epsilon"])
    return torch_steps(torch, model, optim, x, y, compiled)


def torch_steps(torch, model, optim, x, y, compiled):
    """(step, loss_now) of a torch model trained with optim on (x, y) with cross-entropy;
    compiled: the forward and the update through torch.compile."""
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def forward(a, b):
        return torch.nn.functional.cross_entropy(model(a), b)

    update = optim.step
    if compiled:
        torch._dynamo.reset()
        forward = torch.compile(forward)
        update = torch.compile(optim.step)

    def step():
        optim.zero_grad(set_to_none=False)
        forward(xt, yt).backward()
        update()

    def loss_now():
        with torch.no_grad():
            return float(torch.nn.functional.cross_entropy(model(xt), yt))
    return step, loss_now


def jax_peer(jax, sizes, weights, x, y, opt):
    jnp = jax.numpy
    args = OPTIMIZERS[opt]
    lr = args["learning_rate"]

    def loss_fn(params, a, b):
        h = a
        for k in range(0, len(params), 2):
            h = h @ params[k].T + params[k + 1]
            if k + 2 < len(params):
                h = jax.nn.relu(h)
        logp = jax.nn.log_softmax(h, axis=-1)
        return -jnp.mean(jnp.take_along_axis(logp, b[:, None], axis=1))

    grad_fn = jax.grad(loss_fn)

    if opt == "sgd":  # MXNet: mom = momentum * mom - lr * grad; w += mom
        def update(params, state, t, a, b):
            grads = grad_fn(params, a, b)
            state = [args["momentum"] * m - lr * g for m, g in zip(state, grads)]
            return [w + m for w, m in zip(params, state)], state
    else:  # MXNet's Adam: bias correction folded into the rate, epsilon outside the sqrt
        b1, b2, eps = args["beta1"], args["beta2"], args["epsilon"]

        def update(params, state, t, a, b):
            grads = grad_fn(params, a, b)
            ms, vs = state
            ms = [b1 * m + (1 - b1) * g for m, g in zip(ms, grads)]
            vs = [b2 * v + (1 - b2) * g * g for v, g in zip(vs, grads)]
            rate = lr * jnp.sqrt(1 - b2 ** t) / (1 - b1 ** t)
            return ([w - rate * m / (jnp.sqrt(v) + eps) for w, m, v in zip(params, ms, vs)],
                    (ms, vs))

    jitted = jax.jit(update)
    params = [jnp.asarray(w) for w in weights]
    zeros = [jnp.zeros_like(w) for w in params]
    box = {"params": params, "state": zeros if opt == "sgd" else (zeros, list(zeros)), "t": 0}
    xj, yj = jnp.asarray(x), jnp.asarray(y.astype(np.int32))

    def step():
        box["t"] += 1
        box["params"], box["state"] = jitted(box["params"], box["state"],
                                             jnp.float32(box["t"]), xj, yj)
        jax.block_until_ready(box["params"])

    def loss_now():
        return float(loss_fn(box["params"], xj, yj))
    return step, loss_now


# ---------------------------------------------------------------------------------------


def load_peers(want_torch: bool, want_jax: bool):
    torch = jax = None
    if want_torch:
        try:
            import torch
            torch.set_num_threads(THREADS)
        except Exception:
            torch = None
    if want_jax:
        try:
            import jax
            jax.config.update("jax_platforms", "cpu")
        except Exception:
            jax = None
    return torch, jax


PEERS = ("mg eager", "mg hybrid", "torch", "torch.compile", "jax.jit")


def run_case(mg, torch, jax, sizes, batch, opt, budget, repeat, problems):
    """One row: {peer: median seconds per step or None}, plus 'hybrid ran' and the loss."""
    weights = init_weights(sizes)
    x, y = make_batch(batch, sizes[0], sizes[-1])
    where = f"{'-'.join(map(str, sizes))} batch {batch} {opt}"
    makers = {
        "mg eager": lambda: minigluon_peer(mg, sizes, weights, x, y, opt, False),
        "mg hybrid": lambda: minigluon_peer(mg, sizes, weights, x, y, opt, True),
    }
    if torch is not None:
        makers["torch"] = lambda: torch_peer(torch, sizes, weights, x, y, opt, False)
        makers["torch.compile"] = lambda: torch_peer(torch, sizes, weights, x, y, opt, True)
    if jax is not None:
        makers["jax.jit"] = lambda: jax_peer(jax, sizes, weights, x, y, opt)
    return time_peers(mg, makers, PEERS, where, budget, repeat, problems)


def time_peers(mg, makers: dict, peers, where: str, budget, repeat, problems,
               min_samples: int = 7) -> dict:
    """One row: {peer: median seconds per step or None}, 'hybrid ran' and the loss after
    one step, which every peer's must match (minigluon eager's is the reference).  makers
    maps a peer to a function building its (step, loss_now)."""
    row = {"case": where, "hybrid ran": DASH}
    reference = None
    for peer in peers:
        if peer not in makers:
            row[peer] = None
            continue
        try:
            step, loss_now = makers[peer]()
            step()  # from the shared weights: one step, then the loss it leads to
            after = loss_now()
            if reference is None:
                reference = after
            elif not np.isclose(after, reference, rtol=RTOL, atol=ATOL):
                problems.append(f"{where}: {peer} loss after one step {after:.7g} != "
                                f"minigluon eager's {reference:.7g}")
                print("WARNING:", problems[-1], flush=True)
            for _ in range(2):
                step()  # warm: compiled code built, caches filled
            before = mg.jit.stats() if peer == "mg hybrid" else None
            row[peer], _ = measure(step, budget, repeat, min_samples=min_samples)
            if before is not None:
                stats = mg.jit.stats()
                ran = ("compiled" if stats["interpreted_calls"] == before["interpreted_calls"]
                       else "interp")
                if stats["kernels_compiled"] != before["kernels_compiled"]:
                    ran += " (recompiled)"
                row["hybrid ran"] = ran
        except Exception as e:  # one peer failing must not hide the others' numbers
            problems.append(f"{where}: {peer} failed: {type(e).__name__}: {e}")
            print("WARNING:", problems[-1], flush=True)
            row[peer] = None
    row["loss"] = reference
    return row


def table(rows) -> list[str]:
    head = ["case", *PEERS, "hybrid ran", "mg/torch", "mg/tc", "mg/jax"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["case"], *[fmt_time(r[p]) for p in PEERS], r["hybrid ran"],
                 fmt_ratio(r["mg hybrid"], r["torch"]), fmt_ratio(r["mg hybrid"], r["torch.compile"]),
                 fmt_ratio(r["mg hybrid"], r["jax.jit"])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--layers", default="784,256,10",
                   help="comma-separated layer sizes: input, hidden..., classes")
    p.add_argument("--batches", default="64,256")
    p.add_argument("--optimizers", default="sgd,adam")
    p.add_argument("--repeat", type=int, default=None, help="exactly N timed samples")
    p.add_argument("--budget", type=float, default=0.5, help="seconds per cell (default 0.5)")
    p.add_argument("--threads", type=int, default=2, help="read before numpy loads")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--no-jax", action="store_true")
    p.add_argument("--markdown", help="also write the table to this file")
    ns = p.parse_args(argv)
    sizes = [int(s) for s in ns.layers.split(",")]
    batches = [int(b) for b in ns.batches.split(",")]
    opts = ns.optimizers.split(",")
    if ns.quick:
        batches, opts, ns.budget = batches[:1], opts[:1], 0.1
    for opt in opts:
        if opt not in OPTIMIZERS:
            p.error(f"--optimizers: {opt!r} is not one of {sorted(OPTIMIZERS)}")
    if len(sizes) < 2:
        p.error("--layers needs at least an input size and a class count")

    import minigluon as mg
    torch, jax = load_peers(not ns.no_torch, not ns.no_jax)
    imported = {"torch": torch is not None, "jax": jax is not None,
                "jaxlib": jax is not None}
    for line in machine_lines(mg, THREADS, True, imported):
        print(line)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    if load is not None and load > 0.5:
        print(f"WARNING: load average {load:.2f}: other processes share the CPU, timings "
              "are noisy")
    warnings.simplefilter("ignore", UserWarning)  # torch.compile's chatter
    problems: list[str] = []
    rows = []
    t0 = time.perf_counter()
    for batch in batches:
        for opt in opts:
            rows.append(run_case(mg, torch, jax, sizes, batch, opt, ns.budget, ns.repeat,
                                 problems))
    return report("update", table(rows), rows, problems, t0, ns.markdown)


def report(update: str, table_lines: list[str], rows: list[dict], problems: list[str],
           t0: float, markdown: str | None) -> int:
    """Print the table, the loss every peer matched and any problems (also to markdown);
    the exit code: 1 when a peer failed or disagreed."""
    lines = ["", f"Training step (forward + backward + {update}), median per step, "
             f"SoftmaxCE, float32, {THREADS} threads", "", *table_lines, "",
             "loss after one step (all peers checked against it): " +
             ", ".join(f"{r['case']}: {r['loss']:.6f}" for r in rows if r["loss"] is not None)]
    print("\n".join(lines))
    print(f"\n{len(rows)} cases in {time.perf_counter() - t0:.0f} s; "
          + ("all peers agree" if not problems else f"{len(problems)} problem(s):"))
    for msg in problems:
        print("  " + msg)
    if markdown:
        with open(markdown, "w") as f:
            f.write("\n".join(lines) + "\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
