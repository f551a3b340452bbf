"""Entry point: page config, navigation, and the sidebar every page shares. Pages live in views/ (not pages/:
Streamlit would also read a pages/ folder as an old-style multipage app, see docs/architecture.md)."""
import streamlit as st

from playground.run import hold_training
from playground.workers import start_pool
from ui import build, play, session
from ui.classroom import apply_join_link
from ui.lesson import apply_lesson_link
from ui.live import freeze_loaded_objects
from ui.share import shared_experiment

ABOUT = ("**Neural Network Playground**: stack layers, pick the training settings and watch a real PyTorch "
         "model train live, with its loss, weights and gradients. The same engine runs from Python and the command "
         "line: see the project's README.md.")
st.set_page_config(page_title="Neural Network Playground", page_icon="🧠", layout="wide", menu_items={"About": ABOUT})

pages = [
    st.Page("views/play.py", title="Playground", icon=":material/tune:", url_path="playground", default=True),
    st.Page("views/build.py", title="Build", icon=":material/construction:"),
    st.Page("views/train.py", title="Train", icon=":material/monitoring:"),
    st.Page("views/inspect.py", title="Inspect", icon=":material/biotech:"),
    st.Page("views/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("views/lessons.py", title="Lessons", icon=":material/school:"),
    st.Page("views/classroom.py", title="Classroom", icon=":material/groups:"),
]
# the experiment each page edits (declared by its module); the share link and the sidebar's Share expander follow it
PAGE_SLOTS = {"playground": play.SLOT, "build": build.SLOT, "train": build.SLOT}

start_pool()  # once per server: the worker processes import torch while this first page run does
page = st.navigation(pages)
slot = PAGE_SLOTS.get(page.url_path or "playground")
apply_lesson_link()  # before the share link: a reloaded lesson page keeps the student's newest settings
apply_join_link()    # a student's own link into a class (its lesson starts)
with hold_training(), shared_experiment(slot):  # training threads wait for the page run (playground/run.py)
    page.run()
session.page_run_done()  # a click's echo comes before this (ui.session.once_a_click)
freeze_loaded_objects()  # once per server, after the first page run has imported what pages use (plotly, ...)
