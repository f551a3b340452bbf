"""Playground: TensorFlow Playground on one screen. Pick a toy set, shape a small network, press Play."""
from functools import partial

import streamlit as st

from playground.data import DRAWN
from playground.play_settings import PlaySettings
from ui import lesson
from ui import play as pg
from ui import session
from ui.live import live_view

spec = session.get_spec(session.PLAYGROUND).latest()  # the settings in force, changes made while training included
settings = PlaySettings.from_spec(spec)
with st.sidebar:
    st.subheader("Data")
    settings = pg.data_controls(settings)

lesson.panel(session.PLAYGROUND)
bar = st.columns([5.1, 1.2, 1.4, 1.2, 1.55, 1.5], vertical_alignment="bottom")
settings = pg.hyper_controls(settings, bar[2:6])
task = settings.task

left, right = pg.columns()
with left:
    settings = pg.network_controls(settings)
with right:
    toggles = st.columns(2)
    show_test = toggles[0].checkbox("Show test data", key="pg_show_test")
    discretize = toggles[1].checkbox("Discretize output", key="pg_discretize", disabled=task == "regression")
    settings = pg.init_control(settings)

run = pg.ensure_run(settings.to_spec(spec))
if run is not None:  # None only if the very first settings cannot be built; ensure_run has said why
    with right:
        pg.speed_control(run)
    with bar[0]:
        pg.run_buttons(run.snapshot())
    with bar[1]:
        live_view(run, pg.draw_epoch)
    live_view(run, partial(pg.draw_network_and_output, show_test=show_test, discretize=discretize,
                           board=settings.points if settings.dataset == DRAWN else None))
