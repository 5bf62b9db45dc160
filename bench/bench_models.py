#!/usr/bin/env python
"""Benchmark one training step (forward, backward, SGD update) of two small models built
from gluon layers: LeNet (two Conv2D + MaxPool2D, two Dense) on 1x28x28 images, and an LSTM
classifier (one LSTM layer, NTC, the last step's state into a Dense). minigluon eager and
hybridized against PyTorch eager and torch.compile. Every peer starts from the same weights
and takes one step on the same batch; the loss each then reports is checked against
minigluon eager's before anything is timed.

    python bench/bench_models.py                  # both models, batch 64
    python bench/bench_models.py --models lenet --batches 16,64 --threads 1
    python bench/bench_models.py --quick          # short timings

torch is optional: without it its columns show '—'. See bench/README.md.
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
from bench_losses import THREADS, fmt_ratio, fmt_time, machine_lines  # noqa: E402
from bench_training import mg_steps, report, time_peers, torch_steps  # noqa: E402

# isort: split
import numpy as np  # noqa: E402

RTOL, ATOL = 2e-4, 1e-5
LR = 0.05
CLASSES = 10
LSTM_SHAPE = (35, 64, 128)  # steps, input features, hidden units


def lenet_weights(seed: int = 0) -> dict[str, np.ndarray]:
    """LeNet's weights in the layout Conv2D/Dense and torch's Conv2d/Linear share."""
    rng = np.random.RandomState(seed)

    def u(*shape):
        fan = int(np.prod(shape[1:]))
        return rng.uniform(-1, 1, shape).astype(np.float32) / np.sqrt(fan)
    return {"c1w": u(20, 1, 5, 5), "c1b": u(20, 1)[:, 0], "c2w": u(50, 20, 5, 5),
            "c2b": u(50, 1)[:, 0], "f1w": u(500, 800), "f1b": u(500, 1)[:, 0],
            "f2w": u(CLASSES, 500), "f2b": u(CLASSES, 1)[:, 0]}


def lstm_weights(seed: int = 0) -> dict[str, np.ndarray]:
    """One LSTM layer (gates i, f, g, o in both libraries) and the Dense after it."""
    rng = np.random.RandomState(seed)
    _, n_in, h = LSTM_SHAPE
    s = 1 / np.sqrt(h)

    def u(*shape):
        return rng.uniform(-s, s, shape).astype(np.float32)
    return {"wi": u(4 * h, n_in), "wh": u(4 * h, h), "bi": u(4 * h), "bh": u(4 * h),
            "fw": u(CLASSES, h), "fb": u(CLASSES)}


def make_batch(model: str, batch: int, seed: int = 1):
    rng = np.random.RandomState(seed)
    shape = (batch, 1, 28, 28) if model == "lenet" else (batch, LSTM_SHAPE[0], LSTM_SHAPE[1])
    return (rng.uniform(-1, 1, shape).astype(np.float32),
            rng.randint(0, CLASSES, batch).astype(np.int64))


# ---------------------------------------------------------------------------------------
# Peers: each returns (step, loss_now)
# ---------------------------------------------------------------------------------------


def minigluon_net(mg, model: str, w: dict):
    nn = mg.gluon.nn
    if model == "lenet":
        net = nn.HybridSequential()
        net.add(nn.Conv2D(20, kernel_size=5, activation="relu"), nn.MaxPool2D(2, 2),
                nn.Conv2D(50, kernel_size=5, activation="relu"), nn.MaxPool2D(2, 2),
                nn.Dense(500, activation="relu"), nn.Dense(CLASSES))
        net.initialize()
        net(mg.nd.zeros((1, 1, 28, 28)))  # deferred shapes
        for layer, (wk, bk) in zip([net[0], net[2], net[4], net[5]],
                                   [("c1w", "c1b"), ("c2w", "c2b"), ("f1w", "f1b"), ("f2w", "f2b")]):
            layer.weight.set_data(mg.nd.array(w[wk]))
            layer.bias.set_data(mg.nd.array(w[bk]))
        return net

    class LSTMClassifier(mg.gluon.HybridBlock):
        def __init__(self):
            super().__init__()
            with self.name_scope():
                self.lstm = mg.gluon.rnn.LSTM(LSTM_SHAPE[2], layout="NTC",
                                              input_size=LSTM_SHAPE[1])
                self.out = nn.Dense(CLASSES, in_units=LSTM_SHAPE[2])

        def hybrid_forward(self, F, x):
            seq = self.lstm(x)
            return self.out(F.squeeze(F.slice_axis(seq, axis=1, begin=-1, end=None), axis=1))

    net = LSTMClassifier()
    net.initialize()
    params = net.lstm.collect_params()
    for suffix, key in (("l0_i2h_weight", "wi"), ("l0_h2h_weight", "wh"),
                        ("l0_i2h_bias", "bi"), ("l0_h2h_bias", "bh")):
        name = next(n for n in params if n.endswith(suffix))
        params[name].set_data(mg.nd.array(w[key]))
    net.out.weight.set_data(mg.nd.array(w["fw"]))
    net.out.bias.set_data(mg.nd.array(w["fb"]))
    return net


def minigluon_peer(mg, model, w, x, y, hybridize):
    return mg_steps(mg, minigluon_net(mg, model, w), x, y, hybridize, "sgd",
                    {"learning_rate": LR})


def torch_net(torch, model: str, w: dict):
    tn = torch.nn

    def load(module, **named):
        with torch.no_grad():
            for attr, arr in named.items():
                getattr(module, attr).copy_(torch.from_numpy(arr))
        return module
    if model == "lenet":
        return tn.Sequential(
            load(tn.Conv2d(1, 20, 5), weight=w["c1w"], bias=w["c1b"]), tn.ReLU(), tn.MaxPool2d(2),
            load(tn.Conv2d(20, 50, 5), weight=w["c2w"], bias=w["c2b"]), tn.ReLU(), tn.MaxPool2d(2),
            tn.Flatten(), load(tn.Linear(800, 500), weight=w["f1w"], bias=w["f1b"]), tn.ReLU(),
            load(tn.Linear(500, CLASSES), weight=w["f2w"], bias=w["f2b"]))

    class LSTMClassifier(tn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = load(tn.LSTM(LSTM_SHAPE[1], LSTM_SHAPE[2], batch_first=True),
                             weight_ih_l0=w["wi"], weight_hh_l0=w["wh"], bias_ih_l0=w["bi"],
                             bias_hh_l0=w["bh"])
            self.out = load(tn.Linear(LSTM_SHAPE[2], CLASSES), weight=w["fw"], bias=w["fb"])

        def forward(self, x):
            return self.out(self.lstm(x)[0][:, -1])
    return LSTMClassifier()


def torch_peer(torch, model, w, x, y, compiled):
    net = torch_net(torch, model, w)
    return torch_steps(torch, net, torch.optim.SGD(net.parameters(), lr=LR), x, y, compiled)


PEERS = ("mg eager", "mg hybrid", "torch", "torch.compile")


def run_case(mg, torch, model, batch, budget, repeat, problems):
    w = lenet_weights() if model == "lenet" else lstm_weights()
    x, y = make_batch(model, batch)
    where = f"{model} batch {batch}"
    makers = {"mg eager": lambda: minigluon_peer(mg, model, w, x, y, False),
              "mg hybrid": lambda: minigluon_peer(mg, model, w, x, y, True)}
    if torch is not None:
        makers["torch"] = lambda: torch_peer(torch, model, w, x, y, False)
        makers["torch.compile"] = lambda: torch_peer(torch, model, w, x, y, True)
    return time_peers(mg, makers, PEERS, where, budget, repeat, problems, min_samples=5)


def table(rows) -> list[str]:
    head = ["case", *PEERS, "hybrid ran", "mg/torch", "mg/tc"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["case"], *[fmt_time(r[p]) for p in PEERS], r["hybrid ran"],
                 fmt_ratio(r["mg hybrid"], r["torch"]), fmt_ratio(r["mg hybrid"], r["torch.compile"])]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="lenet,lstm")
    p.add_argument("--batches", default="64")
    p.add_argument("--repeat", type=int, default=None, help="exactly N timed samples")
    p.add_argument("--budget", type=float, default=1.0, help="seconds per cell (default 1)")
    p.add_argument("--threads", type=int, default=2, help="read before numpy loads")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--markdown", help="also write the table to this file")
    ns = p.parse_args(argv)
    models = ns.models.split(",")
    for m in models:
        if m not in ("lenet", "lstm"):
            p.error(f"--models: {m!r} is not lenet or lstm")
    batches = [int(b) for b in ns.batches.split(",")]
    if ns.quick:
        ns.budget = 0.2

    import minigluon as mg
    torch = None
    if not ns.no_torch:
        try:
            import torch
            torch.set_num_threads(THREADS)
        except Exception:
            torch = None
    for line in machine_lines(mg, THREADS, True, {"torch": torch is not None}):
        print(line)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    if load is not None and load > 0.5:
        print(f"WARNING: load average {load:.2f}: other processes share the CPU, timings "
              "are noisy")
    warnings.simplefilter("ignore", UserWarning)
    problems: list[str] = []
    t0 = time.perf_counter()
    rows = [run_case(mg, torch, m, b, ns.budget, ns.repeat, problems)
            for m in models for b in batches]
    return report("SGD update", table(rows), rows, problems, t0, ns.markdown)


if __name__ == "__main__":
    sys.exit(main())
