"""Server time of one Playground redraw: the code here against another checkout, in the same run.

    python bench/redraw.py [--before DIR] [--repeats 30] [--rounds 2] [--epochs 2000]

A redraw is what the Playground's three live views do on the server each time they refresh, minus
Streamlit: read the model (the node maps, the weights, the decision grid), build the network diagram, the
decision map and the loss curve, and turn each into the JSON `ui.live_chart` sends (`figure_json`). The default
experiment (circle, 4-2 tanh) after 50 epochs; median of `--repeats`. Then the snapshot of a run in a worker
process (playground.workers, how the app trains on a server of more than one core) after `--epochs`: the
time the server waits for it, which grows with what crosses (a Playground left training runs for thousands of
epochs). Each checkout runs in its own process (`--before`, e.g. a `git worktree` of the previous main);
rounds interleave them.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def measure(repeats: int) -> dict:
    """Run inside the checkout being measured (its playground package is the one imported)."""
    from playground import Experiment, ExperimentSpec
    from playground.charts import decision_boundary_figure, loss_figure, network_diagram
    from playground.play_settings import PlaySettings
    from playground.run import Run
    from ui.live_chart import figure_json  # what the app sends: its JSON of a figure
    try:
        from playground.plane import decision_grid, diagram_view, plane_extent
    except ImportError:  # checkouts before playground/plane.py
        from playground.neurons import diagram_view
        from ui.play import plane_extent
        decision_grid = Experiment.decision_grid

    exp = Experiment(PlaySettings().to_spec(ExperimentSpec()))
    exp.fit(50)
    run = Run(exp)
    data = exp.data
    points, labels = data.points_train.numpy(), data.y_train.numpy()
    extent = plane_extent(points)

    def redraw() -> dict[str, float]:
        times, started = {}, time.perf_counter()
        snap = run.snapshot()
        maps, weights, *biases = run.read(diagram_view, 20, extent)  # biases: since the diagram shows them
        grid = run.read(decision_grid, 60, extent)
        times["read"] = time.perf_counter() - started
        drawn_biases = {"biases": biases[0]} if biases else {}
        figures = {"diagram": network_diagram(weights, maps, data.feature_names, (0.0, 1.0), height=430,
                                              **drawn_biases),
                   "boundary": decision_boundary_figure(grid, points, labels, data.task, height=360),
                   "loss": loss_figure(snap.history, snap.step_losses, snap.loss_stride, exp.steps_per_epoch,
                                       height=200)}
        times["figures"] = time.perf_counter() - started - times["read"]
        sizes = [len(figure_json(fig, key)) for key, fig in figures.items()]
        times["total"] = time.perf_counter() - started
        times["json"] = times["total"] - times["read"] - times["figures"]
        times["kb"] = sum(sizes) / 1000
        return times

    redraw()  # warm up
    rows = [redraw() for _ in range(repeats)]
    return {key: statistics.median(row[key] for row in rows) for key in rows[0]}


def pooled_snapshot(epochs: int, repeats: int) -> float:
    """Median seconds of a pooled run's `snapshot()` after `epochs` (run inside the checkout being measured)."""
    from dataclasses import replace

    from playground import Experiment, ExperimentSpec
    from playground.play_settings import PlaySettings
    from playground.workers import SNAPSHOT_REUSE_SECONDS, Pool, PooledRun

    spec = PlaySettings().to_spec(ExperimentSpec())
    pool = Pool(1)
    try:
        run = PooledRun(Experiment, replace(spec, train=replace(spec.train, epochs=epochs)), pool=pool)
        run.start()
        if not run.wait(timeout=600):
            raise TimeoutError(f"{epochs} epochs took over 600 s")
        seconds = []
        for _ in range(repeats):
            time.sleep(SNAPSHOT_REUSE_SECONDS)  # a new snapshot each time, not the one a page run reuses
            started = time.perf_counter()
            run.snapshot()
            seconds.append(time.perf_counter() - started)
        return statistics.median(seconds)
    finally:
        pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="a checkout of the code to compare against")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=2000, help="epochs before the pooled run's snapshots")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps({**measure(args.repeats), "snapshot": pooled_snapshot(args.epochs, args.repeats)}))
        return
    repos = ([args.before.resolve()] if args.before else []) + [REPO]
    for round_ in range(args.rounds):
        for repo in repos:  # interleaved, so both see the same machine
            out = subprocess.run([sys.executable, __file__, "--child", "--repeats", str(args.repeats),
                                  "--epochs", str(args.epochs)], cwd=repo,
                                 env={**os.environ, "PYTHONPATH": str(repo)}, capture_output=True, text=True,
                                 check=True).stdout
            row = json.loads(out.splitlines()[-1])
            label = "before" if repo != REPO else "now"
            print(f"round {round_ + 1} {label:6s} total {row['total'] * 1000:6.1f} ms  (reading the model "
                  f"{row['read'] * 1000:.1f}, figures {row['figures'] * 1000:.1f}, JSON {row['json'] * 1000:.1f})"
                  f"  {row['kb']:.0f} KB;  a pooled run's snapshot after {args.epochs} epochs "
                  f"{row['snapshot'] * 1000:.1f} ms", flush=True)


if __name__ == "__main__":
    main()
