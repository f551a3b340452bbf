"""ui.live's redraw pacing: live views share LIVE_SHARE of the server's core by what redraws cost."""
import pytest

from ui import live


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(live.time, "monotonic", lambda: now[0])
    return now


def test_interval_spreads_the_measured_cost_of_every_live_view_over_the_share(clock):
    load = live.RedrawLoad(mean_seconds=0.1)
    assert load.interval() == live.LIVE_SECONDS                      # no view yet
    for run in range(30):
        for view in ("epoch", "diagram", "output"):
            load.add((run, view), 0.1)
    assert load.interval() == pytest.approx(90 * 0.1 / live.LIVE_SHARE)
    clock[0] += 2 * load.interval() + live.WINDOW_SECONDS           # the views stopped redrawing: paused or gone
    assert load.interval() == live.LIVE_SECONDS


def test_a_costlier_redraw_moves_the_mean_slowly(clock):
    load = live.RedrawLoad(mean_seconds=0.1)
    load.add(("run", "view"), 2.1)                                   # one redraw held up by a busy server
    assert 0.1 < load.mean_seconds < 0.3


def test_repacing_is_once_per_run_per_window_and_spread_over_the_server(clock):
    load = live.RedrawLoad()
    assert load.may_repace("a") and not load.may_repace("a")
    assert not load.may_repace("b")                                  # another run: not in the same second
    clock[0] += live.REPACE_SECONDS
    assert load.may_repace("b") and not load.may_repace("a")
    clock[0] += live.WINDOW_SECONDS
    assert load.may_repace("a")
