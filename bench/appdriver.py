"""Drive the app as a user would: a Streamlit server on a free localhost port, Debian's Chromium through
Playwright, and readers for what the Playground page shows. Used by bench/loadtest.py and
tests/test_browser.py.

Only 127.0.0.1 is ever served or visited. Chromium is the system one (`/usr/bin/chromium`), never a
Playwright download.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:   # run as `python bench/liveview.py` from bench/, deploy/ is beside it
    sys.path.insert(0, str(REPO))
from deploy.serve import STREAMLIT_FLAGS, stop, wait_healthy  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
RUN_THREAD = "playground-run"   # playground.run names its worker threads so

# Page readers, evaluated in the browser. The epoch is the Playground's "Epoch" metric; the loss chart
# is the plotly figure keyed pg_loss, whose traces' point counts plotly keeps in _fullData[i]._length.
EPOCH_JS = """() => {
  const m = [...document.querySelectorAll('[data-testid="stMetric"]')].find(e => e.innerText.startsWith('Epoch'));
  const v = m && m.querySelector('[data-testid="stMetricValue"]');
  return v ? parseInt(v.innerText.replace(/[^0-9]/g, ''), 10) : -1;
}"""
# The live view sampler: every 50 ms, for each chart key, whether its plotly graph is on the page and drawn,
# and whether its figure changed since the last sample (a new `data` array: Plotly.react or a remount; or a
# new first layout image: a map swapped in place); a MutationObserver counts plotly graphs removed from the
# page (a remount removes one). Install, then read.
SAMPLER_INSTALL_JS = """(keys) => {
  const s = window.__pgSampler = {samples: 0, missing: 0, removed: 0, changes: {}, lastData: {}};
  keys.forEach(k => { s.changes[k] = 0; });
  s.timer = setInterval(() => {
    s.samples++;
    let gone = false;
    for (const k of keys) {
      const g = document.querySelector(`.st-key-${k} .js-plotly-plot`);
      if (!g || !g._fullData) { gone = true; continue; }
      const image = ((g.layout && g.layout.images) || [])[0], now = [g.data, image && image.source];
      const last = s.lastData[k] || [];
      if (now[0] !== last[0] || now[1] !== last[1]) { s.changes[k]++; s.lastData[k] = now; }
    }
    if (gone) s.missing++;
  }, 50);
  s.observer = new MutationObserver(records => records.forEach(r => r.removedNodes.forEach(n => {
    if (n.nodeType === 1 && (n.matches('.js-plotly-plot') || n.querySelector('.js-plotly-plot'))) s.removed++;
  })));
  s.observer.observe(document.body, {childList: true, subtree: true});
}"""
SAMPLER_READ_JS = """() => {
  const s = window.__pgSampler; clearInterval(s.timer); s.observer.disconnect();
  return {samples: s.samples, missing: s.missing, removed: s.removed, changes: s.changes};
}"""
PLAYGROUND_LIVE_CHARTS = ("pg_diagram", "pg_boundary", "pg_loss")
DRAWN_JS = """(keys) => keys.every(k => { const g = document.querySelector(`.st-key-${k} .js-plotly-plot`);
                                          return g && g._fullData; })"""  # every chart keyed so is drawn


def main_thread_seconds(cdp) -> float:
    """Chrome's own count of main-thread task time so far (seconds), from Performance.getMetrics."""
    return next(m["value"] for m in cdp.send("Performance.getMetrics")["metrics"] if m["name"] == "TaskDuration")


LOSS_POINTS_JS = """() => {
  const d = document.querySelector('.st-key-pg_loss .js-plotly-plot');
  return d && d._fullData ? d._fullData.reduce((n, t) => n + (t._length || 0), 0) : -1;
}"""


@dataclass(frozen=True)
class Server:
    url: str
    pid: int
    log: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def app_server(log: Path, env: dict[str, str] | None = None, flags: list[str] | None = None,
               timeout: float = 60.0, repo: Path = REPO) -> Iterator[Server]:
    """`streamlit run app.py` of `repo` (default: this one; a checkout of older code to compare) on a free
    127.0.0.1 port; killed (its whole process group) on exit."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
           "--server.port", str(port), *STREAMLIT_FLAGS, *(flags or [])]
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, cwd=repo, env={**os.environ, **(env or {})}, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_healthy(url, [proc], timeout)
        yield Server(url, proc.pid, log)
    finally:
        stop(proc)


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (a server's training worker processes, playground.workers), from /proc."""
    tree, todo = [], [pid]
    while todo:
        tree.append(todo.pop())
        for children in Path(f"/proc/{tree[-1]}/task").glob("*/children"):
            try:
                todo.extend(int(c) for c in children.read_text().split())
            except OSError:  # ended while we looked
                pass
    return tree


def _tasks(pid: int) -> list[Path]:
    return [task for p in process_tree(pid) for task in Path(f"/proc/{p}/task").glob("*")]


def threads_named(pid: int, name: str = RUN_THREAD) -> int:
    """How many threads of process `pid` and its children carry this name (Linux /proc; Python names OS
    threads since 3.8)."""
    count = 0
    for comm in (task / "comm" for task in _tasks(pid)):
        try:
            count += comm.read_text().strip() == name
        except OSError:  # the thread ended while we looked
            pass
    return count


def threads_cpu_seconds(pid: int, name: str = RUN_THREAD) -> dict[int, float]:
    """CPU time of each live thread of `pid` and its children that carries this name: {thread id: seconds}."""
    out = {}
    for task in _tasks(pid):
        try:
            if (task / "comm").read_text().strip() == name:
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                out[int(task.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except OSError:  # the thread ended while we looked
            pass
    return out


def wait_threads_gone(pid: int, timeout: float, name: str = RUN_THREAD) -> tuple[int, float]:
    """Poll until no thread is named `name`; (threads left, seconds waited)."""
    start = time.monotonic()
    while (left := threads_named(pid, name)) and time.monotonic() - start < timeout:
        time.sleep(0.25)
    return left, time.monotonic() - start


def rss_mb(pid: int) -> float:
    """Resident memory of `pid` and its children (pages they share are counted in each)."""
    total = 0.0
    for p in process_tree(pid):
        try:
            total += sum(int(line.split()[1]) for line in Path(f"/proc/{p}/status").read_text().splitlines()
                         if line.startswith("VmRSS:")) / 1024
        except OSError:
            pass
    return total


def _own_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process and its live children so far."""
    total = 0.0
    for p in process_tree(pid):
        try:
            total += _own_cpu_seconds(p)
        except OSError:  # ended while we looked
            pass
    return total


def browser_cpu_seconds() -> float:
    """CPU time of every Chromium process on the machine (the load test's clients)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if stat.with_name("comm").read_text().strip() in ("chromium", "chrome"):
                total += _own_cpu_seconds(int(stat.parent.name))
        except (OSError, ValueError):  # the process ended while we looked
            pass
    return total


def machine_busy_seconds() -> float:
    """CPU time spent not idle, all cores together, since boot (/proc/stat)."""
    user, nice, system, idle, iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")
