"""Several server processes behind nginx (deploy/): each browser stays on one process, the processes share a
class through its database. The nginx config is checked here; the rest starts real servers (slow), and needs
Debian's nginx (.ci/run installs it): skipped without it, except in CI."""
import asyncio
import os
import re
import subprocess
from pathlib import Path

import pytest

from bench.appdriver import free_port, threads_named
from bench.wire import WireSession
from deploy.serve import NGINX, nginx_config, serve
from playground.classroom import Store
from playground.lesson import course


def test_the_nginx_config_lists_every_process_and_routes_by_a_cookie(tmp_path):
    config = nginx_config(["127.0.0.1:8502", "10.0.0.7:8502"], "0.0.0.0:8501", tmp_path)
    assert re.findall(r"server (\S+) max_fails=0;", config) == ["127.0.0.1:8502", "10.0.0.7:8502"]
    assert "hash $pg_route consistent;" in config and "listen 0.0.0.0:8501;" in config
    assert "@" not in config.replace("@names@", "")          # every placeholder filled in
    if Path(NGINX).exists():                                   # and nginx itself accepts it
        (tmp_path / "nginx.conf").write_text(config)
        checked = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                                 capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr


needs_nginx = pytest.mark.skipif(not Path(NGINX).exists() and os.environ.get("CI") != "true",
                                 reason="nginx not installed (apt-get install -y nginx-light); runs in CI")


async def play(url: str, cookie: str, query: str = "") -> WireSession:
    """A browser with this cookie opening the app (at `query`) and pressing Play."""
    session = await WireSession.open(url, query=query, cookie=cookie)
    asyncio.ensure_future(session.listen())
    await session.wait_button("Play", 60)
    await session.click("Play", "Pause", 60)
    return session


MAX_BROWSERS = 24   # nginx's hash of a cookie picks the process: 24 browsers all on one of 2 is 1 in 8 million


async def until_both_serve(served, numbers, query: str = "") -> list[WireSession]:
    """Browsers (cookie pg_route=student<n>) pressing Play until each process trains at least two of them."""
    sessions = []
    for n in numbers:
        sessions.append(await play(served.url, f"pg_route=student{n}", query.format(n=n)))
        await asyncio.sleep(0.2)
        if min(threads_named(pid) for pid in served.pids) >= 2:
            break
    return sessions


@pytest.mark.slow
@needs_nginx
def test_each_browser_stays_on_one_process_and_browsers_spread_over_the_processes(tmp_path):
    with serve(2, free_port(), log_dir=tmp_path / "logs") as served:
        async def scenario() -> tuple[list[int], list[int], list[int]]:
            first = [await play(served.url, "pg_route=student0")]
            await asyncio.sleep(0.5)
            alone = [threads_named(pid) for pid in served.pids]
            first.append(await play(served.url, "pg_route=student0"))     # the same browser again
            await asyncio.sleep(0.5)
            again = [threads_named(pid) for pid in served.pids]
            others = await until_both_serve(served, range(1, MAX_BROWSERS))
            spread = [threads_named(pid) for pid in served.pids]
            for session in first + others:
                await session.close()
            return alone, again, spread

        alone, again, spread = asyncio.run(scenario())
    for pid in [*served.pids, served.nginx_pid]:                          # no process outlives the launcher
        assert not Path(f"/proc/{pid}").exists(), pid
    assert sorted(alone) == [0, 1] and again == [2 * n for n in alone]    # both runs on that browser's process
    assert min(spread) >= 2, spread                                       # and browsers on both processes


@pytest.mark.slow
@needs_nginx
def test_a_class_joined_through_the_proxy_is_one_class_in_one_database(tmp_path):
    """Students on either process join the same class and save their runs where the teacher reads them."""
    url = f"sqlite:///{tmp_path / 'class.sqlite'}"
    store = Store(url)
    code, key = store.create_class(course()["04-learning-rate-too-low"])    # a lesson with no question
    with serve(2, free_port(), env={"PLAYGROUND_DATABASE_URL": url}, log_dir=tmp_path / "logs") as served:
        async def scenario() -> tuple[list[int], int]:
            sessions = await until_both_serve(served, range(MAX_BROWSERS), query=f"join={code}&name=student{{n}}")
            counts = [threads_named(pid) for pid in served.pids]
            await asyncio.sleep(6)                                 # runs are saved every ~2 s
            for s in sessions:
                await s.close()
            return counts, len(sessions)

        counts, joined = asyncio.run(scenario())
    assert min(counts) >= 2, counts                                 # students on both processes
    _, names, runs = store.class_runs(code, key)
    assert sorted(names) == sorted(f"student{i}" for i in range(joined)) and len(runs) == joined
