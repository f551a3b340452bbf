"""Playground: TensorFlow Playground on one screen. Pick a toy set, shape a small network, press Play."""
from functools import partial

import streamlit as st

from playground.data import DATASETS
from ui import playground as pg
from ui import session
from ui.live import live_view

spec = session.get_spec(session.PLAYGROUND).latest()  # the settings in force, changes made while training included
with st.sidebar:
    st.subheader("Data")
    data = pg.data_controls(spec)

bar = st.columns([5.1, 1.2, 1.4, 1.2, 1.55, 1.5], vertical_alignment="bottom")
hyper = pg.hyper_controls(spec, bar[2:6])
task = DATASETS[data["name"]].task

left, right = st.columns([3, 2], gap="medium")
with left:
    network = pg.network_controls(spec)
with right:
    toggles = st.columns(2)
    show_test = toggles[0].checkbox("Show test data", key="pg_show_test")
    discretize = toggles[1].checkbox("Discretize output", key="pg_discretize", disabled=task == "regression")

run = pg.ensure_run(pg.build_spec(spec, data, hyper, network))
if run is not None:  # None only if the very first settings cannot be built; ensure_run has said why
    with bar[0]:
        pg.run_buttons(run)
    with bar[1]:
        live_view(run, pg.draw_epoch)
    with left:
        live_view(run, pg.draw_diagram)
    with right:
        live_view(run, partial(pg.draw_output, show_test=show_test, discretize=discretize))
