"""Serve the app from N Streamlit processes behind nginx, on one address: every core serves students.

    python deploy/serve.py [--processes N] [--port 8501] [--address 127.0.0.1]
    python deploy/serve.py --print-config [--servers host1:8601,host2:8601]   # the nginx config only

Streamlit runs each process's sessions and training threads on one Python interpreter lock, so one
process uses about one core however many the machine has (docs/classroom.md). This starts N processes on
ports after --port (8502, 8503, ...), each with the same cookie secret (uploads then work whichever process
served the page), and nginx from Debian's package in front, keeping each browser on one process (a cookie:
deploy/nginx.conf.template). Everything a class shares across processes (lessons, students, runs) is in the
classroom database (PLAYGROUND_DATABASE_URL, default SQLite in the data folder: one machine; PostgreSQL for
several). Ctrl-C stops them all. For several machines, run the processes there and give their addresses to
--print-config for the nginx in front.
"""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).with_name("nginx.conf.template")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
COOKIE_SECRET_ENV = "STREAMLIT_SERVER_COOKIE_SECRET"   # the one setting Streamlit takes only so (or from a file)
# A served app never needs to watch its source: the watcher walked the whole repo (a .venv included) on
# every inotify overflow and took most of a core while other files changed.
STREAMLIT_FLAGS = ["--server.headless", "true", "--browser.gatherUsageStats", "false",
                   "--server.fileWatcherType", "none"]


@dataclass(frozen=True)
class Served:
    url: str                 # the proxy's address: what students open
    backends: list[str]      # each process's own address
    pids: list[int]          # each process's pid
    nginx_pid: int


def nginx_config(servers: list[str], listen: str, prefix: Path) -> str:
    """The nginx config for `servers` (host:port each), listening on `listen` (host:port)."""
    lines = "\n".join(f"        server {s} max_fails=0;" for s in servers)
    return (TEMPLATE.read_text().replace("@servers@", lines).replace("@listen@", listen)
            .replace("@prefix@", str(prefix)))


@contextmanager
def serve(processes: int, port: int, address: str = "127.0.0.1", env: dict[str, str] | None = None,
          flags: list[str] | None = None, log_dir: Path | None = None, timeout: float = 90.0) -> Iterator[Served]:
    """Start the processes and nginx; stop them all (their process groups) on the way out."""
    log_dir = log_dir or Path(tempfile.mkdtemp(prefix="playground-serve-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    prefix = Path(tempfile.mkdtemp(prefix="playground-nginx-"))
    secret = secrets.token_hex(16)
    # the cores shared out: each process's training pool gets its part (playground/workers.py), unless set
    workers = {"PLAYGROUND_WORKERS": str(max(1, (os.cpu_count() or 1) // processes))}
    backends = [f"127.0.0.1:{port + 1 + i}" for i in range(processes)]
    procs: list[subprocess.Popen] = []
    try:
        for backend in backends:
            cmd = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.address", "127.0.0.1",
                   "--server.port", backend.split(":")[1], *STREAMLIT_FLAGS, *(flags or [])]
            with open(log_dir / f"streamlit-{backend.split(':')[1]}.log", "wb") as out:
                procs.append(subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                              env={**workers, **os.environ, **(env or {}), COOKIE_SECRET_ENV: secret},
                                              start_new_session=True))
        (prefix / "nginx.conf").write_text(nginx_config(backends, f"{address}:{port}", prefix))
        nginx = subprocess.Popen([NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
                                 stdout=subprocess.DEVNULL, stderr=open(log_dir / "nginx.log", "wb"),
                                 start_new_session=True)
        procs.append(nginx)
        for url in [f"http://{b}" for b in backends] + [f"http://{address}:{port}"]:
            wait_healthy(url, procs, timeout)
        yield Served(f"http://{address}:{port}", [f"http://{b}" for b in backends], [p.pid for p in procs[:-1]],
                     nginx.pid)
    finally:
        for proc in procs:
            stop(proc)
        shutil.rmtree(prefix, ignore_errors=True)


def stop(proc: subprocess.Popen) -> None:
    """End a server started in its own session: its whole process group, killed if it lingers."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def wait_healthy(url: str, procs: list[subprocess.Popen], timeout: float) -> None:
    """Until `url` answers Streamlit's health check; fails at once if one of `procs` ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError(f"a server process ended before {url} answered (see its log)")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"{url}/_stcore/health did not answer within {timeout:.0f} s")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="Streamlit processes (default: cores)")
    p.add_argument("--port", type=int, default=8501, help="where students connect; processes use the next ports")
    p.add_argument("--address", default="127.0.0.1", help="0.0.0.0 to serve a class network")
    p.add_argument("--print-config", action="store_true", help="print the nginx config and exit")
    p.add_argument("--servers", help="with --print-config: the processes' host:port list, comma-separated")
    args = p.parse_args(argv)
    if args.print_config:
        servers = args.servers.split(",") if args.servers else [
            f"127.0.0.1:{args.port + 1 + i}" for i in range(args.processes)]
        print(nginx_config(servers, f"{args.address}:{args.port}", Path("/var/lib/playground-nginx")))
        return
    if not Path(NGINX).exists():
        sys.exit("nginx is missing: apt-get install -y nginx-light (or nginx)")
    with serve(args.processes, args.port, args.address) as served:
        print(f"serving {served.url} from {len(served.backends)} processes: {', '.join(served.backends)}"
              " (Ctrl-C stops them)", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
