"""Classroom load test: one `streamlit run app.py`, N students pressing Play on the Playground at once.

    python bench/loadtest.py [--sessions 30] [--browsers 1] [--seconds 60] [--class] [--processes 1]
                             [--env PLAYGROUND_MAX_ACTIVE_RUNS=1] [--option runner.postScriptGC=false]

With --class, the students are a class (playground.classroom, SQLite): each joins it through its own link
(?join=<code>&name=<name>) and its runs are saved as it trains, while a teacher's Chromium page keeps the
class's view open; the test also reports how fresh that view is (its "latest report" time against the clock).

Students are of two kinds. Most speak Streamlit's websocket protocol directly (bench/wire.py): the
server does for them exactly what it does for a browser, and they cost this machine almost nothing.
`--browsers` of them are real headless Chromium pages (Debian's, via Playwright), whose click-to-visible
latency includes drawing. Real browsers for all 30 were tried first: on this 2-core machine three pages
alone took ~1.2 cores redrawing their plotly charts, so 30 would have measured the browser, not the server.

Measured: page load; interaction latency (click Play or Pause -> the button shows the new state, i.e.
the server reran the page); how often each page's epoch counter changes; training steps/s per session
(epoch counter x steps per epoch); server RSS and CPU; and that every training thread ends within seconds
once the students leave. Serves and visits 127.0.0.1 only; every wait is bounded and the browser phase
stops after --max-seconds.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.appdriver import (CHROMIUM, CHROMIUM_ARGS, EPOCH_JS, REPO, app_server, free_port,  # noqa: E402
                             browser_cpu_seconds, cpu_seconds, machine_busy_seconds, rss_mb, threads_cpu_seconds,
                             threads_named, wait_threads_gone)
from bench.wire import WireSession  # noqa: E402
from deploy.serve import serve  # noqa: E402

# Records, in the page, when the epoch counter's text changes: the page's visible update times.
WATCH_EPOCH_JS = """() => {
  window.__epochs = [];
  const read = %s;
  let last = read();
  new MutationObserver(() => {
    const e = read();
    if (e !== last) { last = e; window.__epochs.push([performance.now(), e]); }
  })
    .observe(document.body, {subtree: true, childList: true, characterData: true});
}""" % EPOCH_JS


@dataclass
class Student:
    browser: bool = False                                 # a Chromium page, else a protocol session
    load_s: float = float("nan")                          # goto -> Play button shown
    latencies_s: list[float] = field(default_factory=list)  # click -> button label flipped
    updates: list[tuple[float, int]] = field(default_factory=list)  # (ms, epoch) when the counter changed
    redraws: int = 0                                      # page and fragment runs seen (protocol sessions)
    error: str = ""


async def _toggle(page, click: str, expect: str, timeout_s: float) -> float:
    """Click the button labelled `click`; seconds until the one labelled `expect` shows."""
    t0 = time.perf_counter()
    await page.get_by_role("button", name=click, exact=True).click(timeout=timeout_s * 1000)
    await page.get_by_role("button", name=expect, exact=True).wait_for(timeout=timeout_s * 1000)
    return time.perf_counter() - t0


async def _open(context, url: str, args, me: Student):
    page = await context.new_page()
    t0 = time.perf_counter()
    await page.goto(url, timeout=args.timeout * 1000)
    await page.get_by_role("button", name="Play", exact=True).wait_for(timeout=args.timeout * 1000)
    me.load_s = time.perf_counter() - t0
    return page


async def _play(page, args, me: Student) -> None:
    """Press Play, then Pause and Play again every ~probe_every seconds until the window ends."""
    await page.evaluate(WATCH_EPOCH_JS)
    me.latencies_s.append(await _toggle(page, "Play", "Pause", args.timeout))
    end = time.monotonic() + args.seconds
    while (wait := min(random.uniform(0.5, 1.5) * args.probe_every, end - time.monotonic())) > 0:
        await asyncio.sleep(wait)
        if time.monotonic() < end:
            me.latencies_s.append(await _toggle(page, "Pause", "Play", args.timeout))
            me.latencies_s.append(await _toggle(page, "Play", "Pause", args.timeout))
    me.updates = [(ms, e) for ms, e in await page.evaluate("() => window.__epochs")]
    await page.close()


async def browser_student(browser, url: str, loaded: asyncio.Barrier, args, me: Student) -> None:
    """A Chromium page: open the Playground, wait for the whole class to have it, then train (_play)."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        try:
            page = await _open(context, url, args, me)
        finally:
            await loaded.wait()   # the class presses Play together, even if this page failed to load
        await _play(page, args, me)
    except Exception as e:  # noqa: BLE001 - one student's failure is a result, not a crash of the test
        me.error = f"browser: {type(e).__name__}: {str(e).splitlines()[0]}"
    finally:
        await context.close()


async def wire_student(url: str, loaded: asyncio.Barrier, args, me: Student, query: str = "",
                       cookie: str | None = None) -> None:
    """A protocol session doing what _play does in a browser: Play, then Pause/Play now and then."""
    session, listener = None, None
    try:
        try:
            t0 = time.perf_counter()
            session = await WireSession.open(url, query, cookie)   # the cookie: a proxy's routing (--processes)
            listener = asyncio.create_task(session.listen())
            await session.wait_button("Play", args.timeout)
            me.load_s = time.perf_counter() - t0
        finally:
            await loaded.wait()
        me.latencies_s.append(await session.click("Play", "Pause", args.timeout))
        end = time.monotonic() + args.seconds
        while (wait := min(random.uniform(0.5, 1.5) * args.probe_every, end - time.monotonic())) > 0:
            await asyncio.sleep(wait)
            if time.monotonic() < end:
                me.latencies_s.append(await session.click("Pause", "Play", args.timeout))
                me.latencies_s.append(await session.click("Play", "Pause", args.timeout))
        me.updates, me.redraws = list(session.metric_updates), session.redraws
    except Exception as e:  # noqa: BLE001
        where = next((f"line {f.lineno}" for f in reversed(traceback.extract_tb(e.__traceback__))
                      if f.filename == __file__), "?")
        me.error = f"wire: {type(e).__name__} at loadtest.py {where}: {e}"
    finally:
        if session is not None:
            await session.close()
        if listener is not None:
            await listener


LATEST_REPORT_JS = """() => {
  const c = [...document.querySelectorAll('[data-testid=stCaptionContainer]')].map(e => e.innerText)
    .find(t => t.startsWith('Latest report at '));
  return c ? c.slice('Latest report at '.length, 'Latest report at '.length + 8) : null;
}"""


async def teacher(browser, url: str, code: str, key: str, loaded: asyncio.Barrier, args, ages: list[float],
                  errors: list[str]) -> None:
    """A Chromium page with the class's view open; every second, how old its latest report is."""
    from datetime import datetime, timezone

    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        try:
            page = await context.new_page()
            await page.goto(f"{url}/classroom", timeout=args.timeout * 1000)
            await page.get_by_role("tab", name="Teach").click(timeout=args.timeout * 1000)
            await page.get_by_label("Class code").last.fill(code)
            await page.get_by_label("Teacher's key").fill(key)
            await page.locator(".st-key-class_open_submit button").first.click()
            await page.get_by_text("Reached the goal").wait_for(timeout=args.timeout * 1000)
        finally:
            await loaded.wait()   # the class starts together, even if the teacher's page failed
        end = time.monotonic() + args.seconds
        while time.monotonic() < end:
            shown = await page.evaluate(LATEST_REPORT_JS)
            if shown:
                now = datetime.now(timezone.utc)
                at = now.replace(hour=int(shown[:2]), minute=int(shown[3:5]), second=int(shown[6:8]), microsecond=0)
                ages.append((now - at).total_seconds() % 86400)
            await asyncio.sleep(1.0)
    except Exception as e:  # noqa: BLE001
        errors.append(f"teacher: {type(e).__name__}: {str(e).splitlines()[0]}")
    finally:
        await context.close()


async def sample_server(pids: list[int], samples: list[dict], stop: asyncio.Event) -> None:
    """Every second: the server processes' memory, CPU and training threads, summed."""
    while not stop.is_set():
        samples.append({"t": time.monotonic(), "rss_mb": sum(rss_mb(p) for p in pids),
                        "cpu_s": sum(cpu_seconds(p) for p in pids),
                        "browser_cpu_s": browser_cpu_seconds(), "machine_cpu_s": machine_busy_seconds(),
                        "run_threads": sum(threads_named(p) for p in pids),
                        "train_cpu": {t: c for p in pids for t, c in threads_cpu_seconds(p).items()},
                        "client_cpu_s": time.process_time()})
        try:
            await asyncio.wait_for(stop.wait(), 1.0)
        except asyncio.TimeoutError:
            pass


async def drive(url: str, pids: list[int], args, klass: tuple[str, str] | None = None
                ) -> tuple[list[Student], list[dict], float, list[float], list[str]]:
    """All students at once (with `klass`, (code, key): a class, and its teacher's view open); returns them, the
    server samples, the RSS before anyone connected, and the teacher's view's ages and errors."""
    from playwright.async_api import async_playwright

    idle_rss = sum(rss_mb(p) for p in pids)
    samples: list[dict] = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_server(pids, samples, stop))
    students = [Student(browser=i < args.browsers) for i in range(args.sessions)]
    loaded = asyncio.Barrier(args.sessions + (klass is not None))
    links = [f"join={klass[0]}&name=student{i + 1}" if klass else "" for i in range(args.sessions)]
    ages: list[float] = []
    errors: list[str] = []
    async with async_playwright() as p:
        browser = None
        if args.browsers or klass:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=60_000)
        try:
            watching = [teacher(browser, url, *klass, loaded, args, ages, errors)] if klass else []
            await asyncio.wait_for(asyncio.gather(*watching, *(
                browser_student(browser, f"{url}/?{link}", loaded, args, s) if s.browser
                else wire_student(url, loaded, args, s, link, f"pg_route=student{i}")
                for i, (s, link) in enumerate(zip(students, links)))), args.max_seconds)
        finally:
            if browser is not None:
                await browser.close()
            stop.set()
            await sampler
    return students, samples, idle_rss, ages, errors


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


def steps_per_second(updates: list[tuple[float, int]], steps_per_epoch: int) -> float:
    """Training speed one page saw: epochs between its first and last visible update, per second."""
    if len(updates) < 2 or updates[-1][0] <= updates[0][0]:
        return 0.0
    return (updates[-1][1] - updates[0][1]) * steps_per_epoch / ((updates[-1][0] - updates[0][0]) / 1000)


def cpu_use(samples: list[dict]) -> dict:
    """Mean CPU cores used while sessions trained: server, its training threads, Chromium, this client."""
    busy = [x for x in samples if x["run_threads"] > 0] or samples
    span = max(1e-9, busy[-1]["t"] - busy[0]["t"])
    first: dict[int, float] = {}
    last: dict[int, float] = {}
    for x in busy:  # per training thread, the CPU it used inside the window
        for tid, sec in x["train_cpu"].items():
            first.setdefault(tid, sec)
            last[tid] = sec
    out = {name: (busy[-1][key] - busy[0][key]) / span for name, key in (
        ("server", "cpu_s"), ("load_test_client", "client_cpu_s"), ("browser", "browser_cpu_s"),
        ("machine", "machine_cpu_s"))}
    return {**out, "training_threads": sum(last[t] - first[t] for t in last) / span, "machine_total": os.cpu_count()}


def summarise(students: list[Student], samples: list[dict], idle_rss: float, threads_left: int,
              gone_s: float, steps_per_epoch: int, args) -> dict:
    ok = [s for s in students if not s.error]
    latencies = [x for s in ok for x in s.latencies_s[1:]]   # after the class's simultaneous first Play
    browser_latencies = [x for s in ok if s.browser for x in s.latencies_s[1:]]
    first_play = [s.latencies_s[0] for s in ok if s.latencies_s]
    gaps = [(b[0] - a[0]) / 1000 for s in ok for a, b in zip(s.updates, s.updates[1:])]
    rates = [steps_per_second(s.updates, steps_per_epoch) for s in ok]
    cpu, redraws = cpu_use(samples), sum(s.redraws for s in ok)
    return {
        "sessions": args.sessions, "browsers": args.browsers, "seconds": args.seconds, "env": args.env,
        "options": args.option, "errors": [s.error for s in students if s.error],
        "load_s": {"p50": _pct([s.load_s for s in ok], 50), "p95": _pct([s.load_s for s in ok], 95)},
        "first_play_s": {"p50": _pct(first_play, 50), "p95": _pct(first_play, 95)},
        "latency_s": {"n": len(latencies), "p50": _pct(latencies, 50), "p95": _pct(latencies, 95),
                      "max": max(latencies, default=float("nan")),
                      "browser_p50": _pct(browser_latencies, 50), "browser_p95": _pct(browser_latencies, 95)},
        "update_gap_s": {"p50": _pct(gaps, 50), "p95": _pct(gaps, 95)},
        "steps_per_s": {"median": _pct(rates, 50), "min": min(rates, default=0.0), "total": sum(rates)},
        "server": {"idle_rss_mb": idle_rss, "peak_rss_mb": max(x["rss_mb"] for x in samples),
                   "max_run_threads": max(x["run_threads"] for x in samples)},
        "cpu_cores": cpu,
        "run_threads_every_5s": [x["run_threads"] for x in samples[::5]],
        "redraws_per_s": redraws / args.seconds,
        "ui_cpu_per_redraw_s": (cpu["server"] - cpu["training_threads"]) * args.seconds / max(1, redraws),
        "after_close": {"run_threads_left": threads_left, "seconds_to_end": gone_s},
    }


def report(r: dict) -> None:
    srv, lat = r["server"], r["latency_s"]
    print(f"{r['sessions']} sessions ({r['browsers']} in Chromium), {r['seconds']} s of training; "
          f"env {r['env'] or '-'}; "
          f"options {r['options'] or '-'}; errors: {len(r['errors'])} {r['errors'][:3]}")
    print(f"page load            p50 {r['load_s']['p50']:.2f} s   p95 {r['load_s']['p95']:.2f} s")
    print(f"first Play (all at once) p50 {r['first_play_s']['p50']:.2f} s   p95 {r['first_play_s']['p95']:.2f} s")
    print(f"later Play/Pause     p50 {lat['p50']:.2f} s   p95 {lat['p95']:.2f} s   max {lat['max']:.2f} s "
          f"({lat['n']} clicks); in Chromium p50 {lat['browser_p50']:.2f} s p95 {lat['browser_p95']:.2f} s")
    print(f"epoch counter update every  p50 {r['update_gap_s']['p50']:.2f} s   p95 {r['update_gap_s']['p95']:.2f} s")
    print(f"steps/s per session  median {r['steps_per_s']['median']:,.0f}   min {r['steps_per_s']['min']:,.0f}   "
          f"all sessions {r['steps_per_s']['total']:,.0f}")
    if "bare_capacity_steps_per_s" in r:
        print(f"the machine's bare-loop capacity (a loop per core, before the test) "
              f"{r['bare_capacity_steps_per_s']:,.0f} steps/s: the class got {100 * r['share_of_capacity']:.0f} %")
    print(f"server RSS before the first session {srv['idle_rss_mb']:.0f} MB (torch not yet loaded), peak "
          f"{srv['peak_rss_mb']:.0f} MB; threads named playground-run at most {srv['max_run_threads']}")
    cpu = r["cpu_cores"]
    print(f"CPU cores busy: server {cpu['server']:.2f} (training threads {cpu['training_threads']:.2f}), "
          f"Chromium {cpu['browser']:.2f}, this client {cpu['load_test_client']:.2f}, "
          f"whole machine {cpu['machine']:.2f} of {cpu['machine_total']}")
    print(f"page/fragment runs seen by protocol sessions: {r['redraws_per_s']:.1f}/s; server CPU outside "
          f"training per run ~{1000 * r['ui_cpu_per_redraw_s']:.0f} ms")
    if "class" in r:
        c, age = r["class"], r["class"]["teacher_view_age_s"]
        print(f"class: {c['students']} students joined, {c['runs_saved']} runs saved; the teacher's view's latest "
              f"report was p50 {age['p50']:.1f} s, p95 {age['p95']:.1f} s, max {age['max']:.1f} s old "
              f"({age['n']} reads); teacher errors {c['teacher_errors'][:2]}")
    left = r["after_close"]
    print(f"after the pages closed: {left['run_threads_left']} training threads left "
          f"(waited {left['seconds_to_end']:.1f} s)")


@contextmanager
def _servers(args, env: dict, flags: list[str]) -> Iterator[tuple[str, list[int]]]:
    """(the address students open, the server processes' pids): one `streamlit run`, or --processes of them
    behind nginx (deploy/serve.py)."""
    logs = REPO / "test-artifacts"
    if args.processes == 1:
        with app_server(logs / "loadtest-streamlit.log", env=env, flags=flags) as server:
            yield server.url, [server.pid]
    else:
        with serve(args.processes, free_port(), env=env, flags=flags, log_dir=logs / "loadtest-serve") as served:
            yield served.url, served.pids


def _new_class() -> tuple:
    """A fresh SQLite class doing the first lesson (its question dropped: Play must not wait for an answer)."""

    from playground.classroom import Store
    from playground.lesson import course

    path = REPO / "test-artifacts" / "loadtest-class.sqlite"
    for stale in path.parent.glob(path.name + "*"):
        stale.unlink()
    url = f"sqlite:///{path}"
    store = Store(url)
    return store, store.create_class(replace(course()["01-hidden-layers"], question=None)), url


def _playground_steps_per_epoch() -> int:
    from playground import Experiment
    from ui.session import DEFAULT_SPECS, PLAYGROUND

    return Experiment(DEFAULT_SPECS[PLAYGROUND]).steps_per_epoch


def bare_rate(seconds: float) -> float:
    """Steps/s of a bare PyTorch loop (bench/run.py's) training the Playground's default network on one thread."""
    import torch

    from bench.run import bare_loop
    from playground import Experiment
    from ui.session import DEFAULT_SPECS, PLAYGROUND

    torch.set_num_threads(1)
    exp = Experiment(DEFAULT_SPECS[PLAYGROUND])
    spec, steps, start = exp.spec.replace(train=replace(exp.spec.train, epochs=5)), 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        steps += bare_loop(exp.model, exp.data, spec)[0]
    return steps / (time.perf_counter() - start)


def bare_capacity(seconds: float = 5.0) -> float:
    """What this machine can train of the Playground's net: a bare loop on every core at once, steps/s summed."""
    code = (f"import sys; sys.path.insert(0, {str(REPO)!r}); from bench.loadtest import bare_rate; "
            f"print(bare_rate({seconds}))")
    loops = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, cwd=REPO) for _ in range(os.cpu_count() or 1)]
    return sum(float(loop.communicate(timeout=120)[0].split()[-1]) for loop in loops)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sessions", type=int, default=30)
    p.add_argument("--browsers", type=int, default=1, help="how many of the sessions are Chromium pages")
    p.add_argument("--seconds", type=float, default=60.0, help="training window after everyone pressed Play")
    p.add_argument("--probe-every", type=float, default=30.0, help="mean seconds between Pause/Play probes")
    p.add_argument("--timeout", type=float, default=60.0, help="limit for any one page action, seconds")
    p.add_argument("--max-seconds", type=float, default=420.0, help="limit for the whole browser phase")
    p.add_argument("--env", action="append", default=[], help="server environment, KEY=VALUE (repeatable)")
    p.add_argument("--option", action="append", default=[], help="streamlit option, name=value (repeatable)")
    p.add_argument("--out", type=Path, help="also write the result as JSON here")
    p.add_argument("--processes", type=int, default=1,
                   help="server processes; more than one: behind nginx, as deploy/serve.py serves a class")
    p.add_argument("--class", dest="klass", action="store_true",
                   help="the students are a class doing a lesson, with the teacher's view open")
    args = p.parse_args(argv)
    if args.browsers and not Path(CHROMIUM).exists():
        sys.exit(f"{CHROMIUM} is missing: apt-get install -y chromium")
    env = dict(kv.split("=", 1) for kv in args.env)
    flags = [x for kv in args.option for x in (f"--{kv.split('=', 1)[0]}", kv.split("=", 1)[1])]
    store = klass = None
    if args.klass:
        store, klass, url = _new_class()
        env["PLAYGROUND_DATABASE_URL"] = url
    capacity = bare_capacity()  # before the servers start: the machine's own figure, in the same run
    with _servers(args, env, flags) as (url, pids):
        students, samples, idle_rss, ages, errors = asyncio.run(drive(url, pids, args, klass))
        gone = [wait_threads_gone(pid, timeout=15.0) for pid in pids]
        left, gone_s = sum(n for n, _ in gone), max(t for _, t in gone)
        result = summarise(students, samples, idle_rss, left, gone_s, _playground_steps_per_epoch(), args)
    result["bare_capacity_steps_per_s"] = capacity
    result["share_of_capacity"] = result["steps_per_s"]["total"] / capacity
    if store is not None:
        _, names, runs = store.class_runs(*klass)
        result["class"] = {"students": len(names), "runs_saved": len(runs), "teacher_errors": errors,
                           "teacher_view_age_s": {"p50": _pct(ages, 50), "p95": _pct(ages, 95),
                                                  "max": max(ages, default=float("nan")), "n": len(ages)}}
    report(result)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
