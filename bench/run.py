"""The engine against a bare hand-written PyTorch loop: same model, data, batch size, seed and work.

    python bench/run.py [--quick] [--threads N] [--device cpu|cuda]

For each case (toy 2-D net, MNIST-shaped MLP, small conv net) it times, interleaved and best of
`--repeats`: a bare loop (randperm + slicing, forward, backward, SGD step, `loss.item()` each step, a
test evaluation each epoch), `Experiment.step()` called in a loop, and a background `Run` (default
telemetry, and telemetry off). The bare loop replays the engine's batching and initialisation, so both
end on the same test loss: the script checks it, which proves they did the same work. MNIST-shaped
data is random tensors built in memory (no download). Further tables: the cost of a telemetry sample;
a torchvision-style DataLoader with per-item transforms against the engine's decoded-tensor batching
(bench/loading.py); and what setting the training thread's torch thread count does.
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from playground import Experiment, ExperimentSpec, Run  # noqa: E402
from playground.data import Dataset  # noqa: E402
from playground.telemetry import HIST_EVERY  # noqa: E402
from bench.loading import bench_loading  # noqa: E402


@dataclass(frozen=True)
class Case:
    name: str
    spec: dict                                  # the experiment, as the JSON contract
    bare_model: Callable[[], nn.Module]         # the same architecture, written by hand
    dataset: Callable[[], Dataset] | None       # None: the spec's own (toy) data
    epochs: tuple[int, int]                     # (quick, full)


def mnist_shaped(n_train: int, n_test: int, shape=(1, 28, 28), seed: int = 0) -> Dataset:
    """Random images with random labels, MNIST-shaped, built in memory (timing only; nothing to learn)."""
    g = torch.Generator().manual_seed(seed)
    return Dataset("mnist", "multiclass", torch.rand(n_train, *shape, generator=g),
                   torch.randint(0, 10, (n_train,), generator=g), torch.rand(n_test, *shape, generator=g),
                   torch.randint(0, 10, (n_test,), generator=g), class_names=tuple("0123456789"))


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


def _conv() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(9216, 128), nn.ReLU(), nn.Linear(128, 10))


def _image_train(batch_size: int, lr: float) -> dict:
    return {"loss": "cross_entropy", "optimizer": "sgd", "lr": lr, "batch_size": batch_size}


CASES = [
    Case("toy 2-8-8-1 tanh, b10", {"data": {"name": "spiral"}, "train": {}},
         lambda: nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1)),
         None, (30, 80)),
    Case("mlp 784-128-10, b64", {"data": {"name": "mnist"}, "train": _image_train(64, 0.05),
                                 "model": {"layers": [{"type": "dense", "units": 128, "activation": "relu"}]}},
         _mlp, lambda: mnist_shaped(3200, 1000), (6, 16)),
    Case("conv32-conv64-fc128, b64", {"data": {"name": "mnist"}, "train": _image_train(64, 0.01), "model": {"layers": [
        {"type": "conv2d", "filters": 32, "padding": 0}, {"type": "conv2d", "filters": 64, "padding": 0},
        {"type": "maxpool2d"}, {"type": "dense", "units": 128, "activation": "relu"}]}},
         _conv, lambda: mnist_shaped(640, 256), (2, 4)),
]


def build(case: Case, epochs: int, device: str, telemetry_every: int | None = None) -> Experiment:
    d = copy.deepcopy(case.spec)
    d["train"].update(epochs=epochs, device=device)
    if telemetry_every is not None:
        d["train"]["telemetry_every"] = telemetry_every
    return Experiment(ExperimentSpec.from_dict(d), dataset=case.dataset() if case.dataset else None)


def _loss_fn(task: str) -> Callable:
    if task == "binary":
        return lambda out, y: F.binary_cross_entropy_with_logits(out.squeeze(1), y)
    return F.cross_entropy


def _predict(task: str, out: torch.Tensor) -> torch.Tensor:
    return out.argmax(1) if task == "multiclass" else (out.squeeze(1) > 0).float()


def bare_loop(model: nn.Module, data: Dataset, spec: ExperimentSpec) -> tuple[int, float]:
    """Plain PyTorch: the engine's batching, SGD, loss.item() per step, test loss and accuracy each epoch.

    Returns (steps, last test loss).
    """
    loss_fn, train = _loss_fn(data.task), spec.train
    opt = torch.optim.SGD(model.parameters(), lr=train.lr)
    shuffle = torch.Generator().manual_seed(spec.seed)
    n, bs, steps, test_loss = len(data.x_train), train.batch_size, 0, float("nan")
    for _ in range(train.epochs):
        order = torch.randperm(n, generator=shuffle).to(data.x_train.device)
        xs, ys = data.x_train[order], data.y_train[order]
        for start in range(0, n, bs):
            if n - start < 2:   # the engine skips a trailing batch of one sample
                break
            loss = loss_fn(model(xs[start:start + bs]), ys[start:start + bs])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss.item()
            steps += 1
        model.eval()
        with torch.no_grad():
            out = model(data.x_test)
            test_loss = loss_fn(out, data.y_test).item()
            (_predict(data.task, out) == data.y_test).sum().item()
        model.train()
    return steps, test_loss


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_bare(case: Case, epochs: int, device: str) -> tuple[float, int, float]:
    """(seconds, steps, final test loss) of the bare loop on the engine's own data and init."""
    exp = build(case, epochs, device)          # data on the device, spec resolved; its model is not used
    torch.manual_seed(exp.spec.seed)           # the engine initialises right after this call, in this order
    model = case.bare_model().to(exp.device)
    _sync(exp.device)
    t0 = time.perf_counter()
    steps, test_loss = bare_loop(model, exp.data, exp.spec)
    _sync(exp.device)
    return time.perf_counter() - t0, steps, test_loss


def time_steps(case: Case, epochs: int, device: str) -> tuple[float, int, float]:
    exp = build(case, epochs, device)
    t0 = time.perf_counter()
    while not exp.done:
        exp.step()
    _sync(exp.device)
    return time.perf_counter() - t0, exp.step_count, exp.history[-1]["test_loss"]


def time_run(case: Case, epochs: int, device: str, threads: int, telemetry_every: int | None = None):
    exp = build(case, epochs, device, telemetry_every)
    run = Run(exp, num_threads=threads)
    t0 = time.perf_counter()
    run.start().wait()
    _sync(exp.device)
    return time.perf_counter() - t0, exp.step_count, exp.history[-1]["test_loss"]


VARIANTS = {
    "bare": lambda c, e, a: time_bare(c, e, a.device),
    "step()": lambda c, e, a: time_steps(c, e, a.device),
    "Run": lambda c, e, a: time_run(c, e, a.device, a.threads),
    "Run, no telemetry": lambda c, e, a: time_run(c, e, a.device, a.threads, telemetry_every=0),
}


def bench_case(case: Case, args: argparse.Namespace) -> dict[str, tuple[float, int, float]]:
    """Best time per variant over `args.repeats` rounds; variants interleaved within each round."""
    epochs = case.epochs[0] if args.quick else case.epochs[1]
    best: dict[str, tuple[float, int, float]] = {}
    for _ in range(args.repeats):
        for name, fn in VARIANTS.items():
            result = fn(case, epochs, args)
            if name not in best or result[0] < best[name][0]:
                best[name] = result
    return best


def print_engine_table(results: dict[str, dict], device: str, threads: int) -> None:
    print(f"\nEngine vs bare PyTorch ({device}, {threads} torch thread(s); steps/s, best of repeats)")
    head = f"{'case':28} {'steps':>6} " + " ".join(f"{v:>17}" for v in VARIANTS)
    print(head + f" {'step()/bare':>11} {'Run/bare':>9} {'same loss':>9}")
    for name, best in results.items():
        bare_s, steps, bare_loss = best["bare"]
        rates = " ".join(f"{best[v][1] / best[v][0]:17,.0f}" for v in VARIANTS)
        same = all(abs(best[v][2] - bare_loss) <= 1e-4 * max(1.0, abs(bare_loss)) for v in VARIANTS)
        print(f"{name:28} {steps:6d} {rates} {best['step()'][0] / bare_s:11.3f} "
              f"{best['Run'][0] / bare_s:9.3f} {'yes' if same else 'NO':>9}")


def telemetry_cost(case: Case, args: argparse.Namespace) -> tuple[float, float]:
    """(mean step, mean extra of a telemetry sample), seconds: an Experiment that samples every step against one
    that never does, stepped alternately on the same data and seed. Histograms come with every HIST_EVERY-th
    sample, as in a default run, so the mean is what a sample costs on average."""
    sampled, plain = build(case, case.epochs[0], args.device, 1), build(case, case.epochs[0], args.device, 0)
    times: dict[bool, list[float]] = {True: [], False: []}
    for exp in (sampled, plain):  # warm-up: the first sample picks the histogram subsets
        exp.step()
    while not (sampled.done or plain.done):
        for exp, key in ((sampled, True), (plain, False)):
            t0 = time.perf_counter()
            exp.step()
            _sync(exp.device)
            times[key].append(time.perf_counter() - t0)
    step = statistics.fmean(times[False])
    return step, statistics.fmean(times[True]) - step


def print_telemetry_table(args: argparse.Namespace) -> None:
    every = ExperimentSpec().train.telemetry_every
    print(f"\nTelemetry: mean extra time of a sampled step (default: every {every} steps, histograms every "
          f"{HIST_EVERY} samples)")
    print(f"{'case':28} {'step':>10} {'sample extra':>13} {'per step':>9}")
    for case in CASES:
        step, extra = telemetry_cost(case, args)
        print(f"{case.name:28} {step * 1e3:8.2f}ms {extra * 1e3:11.2f}ms {extra / every / step:8.1%}")


def _bare_in_plain_thread(case: Case, epochs: int) -> float:
    """Steps/s of the bare loop in a new thread that never calls torch.set_num_threads."""
    rates: list[float] = []
    thread = threading.Thread(target=lambda: rates.append(_rate(time_bare(case, epochs, "cpu"))))
    thread.start()
    thread.join()
    return rates[0]


def _rate(result: tuple[float, int, float]) -> float:
    return result[1] / result[0]


def bench_thread_setting(args: argparse.Namespace) -> None:
    """What Run's worker gains by setting its own torch thread count, measured before the main thread sets
    anything (as in the Streamlit server, whose threads never do)."""
    cores = torch.get_num_threads()
    print(f"\nTorch threads of the training thread (steps/s, best of {args.repeats}; {cores} cores)")
    print(f"{'case':28} {'Run, 1 thread':>14} {f'Run, {cores} threads':>16} {'thread, not set':>16}")
    for case in CASES:
        epochs, best = case.epochs[0], {}
        for _ in range(args.repeats):  # interleaved
            for key, fn in ((1, lambda: _rate(time_run(case, epochs, "cpu", 1))),
                            (cores, lambda: _rate(time_run(case, epochs, "cpu", cores))),
                            (None, lambda: _bare_in_plain_thread(case, epochs))):
                best[key] = max(best.get(key, 0.0), fn())
        print(f"{case.name:28} {best[1]:14,.0f} {best[cores]:16,.0f} {best[None]:16,.0f}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="fewer epochs and repeats (about a minute)")
    p.add_argument("--threads", type=int, default=1, help="torch threads for every variant (default 1)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--repeats", type=int, default=None, help="rounds per case (default 5, quick 3)")
    p.add_argument("--only", choices=["engine", "telemetry", "loading", "threads"], help="run one table")
    args = p.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 5)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} default threads, device {args.device}")
    if args.only in (None, "threads") and args.device == "cpu":
        bench_thread_setting(args)   # first: it needs the process's untouched thread setting
    torch.set_num_threads(args.threads)
    if args.only in (None, "engine"):
        print_engine_table({c.name: bench_case(c, args) for c in CASES}, args.device, args.threads)
    if args.only in (None, "telemetry"):
        print_telemetry_table(args)
    if args.only in (None, "loading"):
        bench_loading(1280 if args.quick else 6400, args.repeats, _mlp)


if __name__ == "__main__":
    main()
