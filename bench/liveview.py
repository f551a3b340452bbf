"""How live the Playground feels to one user in a real browser: the code here against another checkout.

    python bench/liveview.py [--before DIR] [--baseline-env KEY=VALUE] [--seconds 10] [--rounds 2] [--trained 0]

For each checkout (`--before`, e.g. a `git worktree` of the previous main, then this one; or this one with
`--baseline-env`, e.g. PLAYGROUND_WORKERS=0 to compare runs in threads with runs in worker processes): open the
Playground in Debian's Chromium, wait until it is drawn, press Play (and let it train `--trained` seconds
first, as a Playground left running) and watch for `--seconds`: an in-page
sampler every 50 ms says whether any live chart was missing and how often each figure changed; Chrome's
own Performance.getMetrics gives the main thread's busy share; the epoch counter gives epochs per redraw.
Then Pause/Play clicks are timed until the button shows its new state, and a second visitor's page is timed
to its drawn charts (the first visitor's first draw includes the server importing torch). Localhost only,
bounded in time.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from appdriver import (CHROMIUM, CHROMIUM_ARGS, DRAWN_JS, EPOCH_JS, PLAYGROUND_LIVE_CHARTS, REPO, SAMPLER_INSTALL_JS,
                       SAMPLER_READ_JS, app_server, main_thread_seconds)
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import sync_playwright


def measure(repo: Path, seconds: float, clicks: int, env: dict[str, str] | None = None, trained: float = 0.0) -> dict:
    with app_server(REPO / "test-artifacts" / f"liveview-{repo.name}.log", repo=repo, env=env, timeout=90) as server, \
            sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        opened = time.monotonic()
        page.goto(server.url)
        page.wait_for_function(DRAWN_JS, arg=list(PLAYGROUND_LIVE_CHARTS), timeout=120_000)
        first_draw = time.monotonic() - opened
        page.get_by_role("button", name="Play").click()
        page.get_by_role("button", name="Pause").wait_for()
        time.sleep(trained)  # a Playground left training: its run's history has grown
        epoch0 = page.evaluate(EPOCH_JS)
        page.evaluate(SAMPLER_INSTALL_JS, list(PLAYGROUND_LIVE_CHARTS))
        busy0, t0 = main_thread_seconds(cdp), time.monotonic()
        time.sleep(seconds)
        busy, wall = main_thread_seconds(cdp) - busy0, time.monotonic() - t0
        sampled = page.evaluate(SAMPLER_READ_JS)
        epochs = page.evaluate(EPOCH_JS) - epoch0
        click_s, lost = [], 0
        for _ in range(clicks):  # Pause, Play, ...: seconds from the click to the button's new label
            now = "Pause" if page.get_by_role("button", name="Pause").count() else "Play"
            then = "Play" if now == "Pause" else "Pause"
            started = time.monotonic()
            page.get_by_role("button", name=now).click(timeout=30_000)
            try:
                page.get_by_role("button", name=then).wait_for(timeout=15_000)
                click_s.append(time.monotonic() - started)
            except PlaywrightTimeout:
                lost += 1  # the click changed nothing within 15 s
            time.sleep(0.5)
        page.close()
        warm = browser.new_page(viewport={"width": 1400, "height": 1000})  # a second visitor: torch is loaded
        opened = time.monotonic()
        warm.goto(server.url)
        warm.wait_for_function(DRAWN_JS, arg=list(PLAYGROUND_LIVE_CHARTS), timeout=120_000)
        warm_draw = time.monotonic() - opened
        browser.close()
    redraws = sampled["changes"]["pg_boundary"]
    return {"first draw s": first_draw, "warm first draw s": warm_draw, "samples": sampled["samples"],
            "missing %": 100 * sampled["missing"] / max(1, sampled["samples"]), "graphs removed": sampled["removed"],
            "map redraws/s": redraws / wall, "epochs/redraw": epochs / max(1, redraws),
            "main thread busy %": 100 * busy / wall, "click p50 s": statistics.median(click_s or [float("nan")]),
            "click p95 s": p95(click_s), "click max s": max(click_s or [float("nan")]), "clicks lost": lost}


def p95(values: list[float]) -> float:
    """The 95th percentile, interpolated between the measured values (never above the largest)."""
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) >= 2 else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="a checkout of the code to compare against")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--clicks", type=int, default=20)
    parser.add_argument("--trained", type=float, default=0.0,
                        help="seconds the run trains before the watching starts (a Playground left running)")
    parser.add_argument("--baseline-env", action="append", default=[],
                        help="KEY=VALUE: the baseline is this checkout with this server environment")
    args = parser.parse_args()
    baseline_env = dict(kv.split("=", 1) for kv in args.baseline_env)
    setups = ([("before", args.before.resolve(), None)] if args.before else []) + \
        ([(" ".join(args.baseline_env), REPO, baseline_env)] if baseline_env else []) + [("now", REPO, None)]
    for round_ in range(args.rounds):
        for label, repo, env in setups:  # interleaved, so both see the same machine
            row = measure(repo, args.seconds, args.clicks, env, args.trained)
            print(f"round {round_ + 1} {label:6s} " + "  ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                                                          for k, v in row.items()), flush=True)


if __name__ == "__main__":
    main()
