"""Train: every training setting, Start/Pause/Resume/Step/Stop, and live loss and accuracy curves."""
import pandas as pd
import streamlit as st

from playground import Run, Snapshot
from playground.charts import accuracy_figure, loss_figure
from ui import classroom, lesson, session
from ui.build import SLOT  # Train trains the experiment Build edits
from ui.controls import train_controls
from ui.live import live_view, status_message
from ui.live_chart import live_chart


def start() -> None:
    run = session.new_run(session.get_spec(SLOT).latest(), SLOT)  # the settings in force, from step 0
    if run is not None:
        run.start()


def step() -> None:
    run = session.current_run(SLOT)
    if run is None or run.snapshot().done:
        run = session.new_run(session.get_spec(SLOT).latest(), SLOT)
    if run is not None:
        run.step()


def act(method: str) -> None:
    """Pause, resume or stop the current run, right away (a button's callback runs before the page)."""
    getattr(session.current_run(SLOT), method)()


def buttons(run: Run | None, spec_ok: bool) -> None:
    state = run.state if run is not None else "none"
    waits = lesson.play_blocked()
    columns = st.columns(5)
    columns[0].button("Start", key="train_start", type="primary", on_click=start, width="stretch",
                      disabled=not spec_ok or state == "running" or bool(waits),
                      help=f"Start waits: {waits}" if waits else "a new run with these settings")
    columns[1].button("Pause", key="train_pause", on_click=act, args=("pause",), width="stretch",
                      disabled=state != "running")
    columns[2].button("Resume", key="train_resume", on_click=act, args=("resume",), width="stretch",
                      disabled=state != "paused")
    columns[3].button("Step", key="train_step", on_click=step, width="stretch", disabled=not spec_ok,
                      help="one training step, then pause")
    columns[4].button("Stop", key="train_stop", on_click=act, args=("stop",), width="stretch",
                      disabled=state not in ("running", "paused"), help="end the run; its results are kept")


def draw(run: Run, snap: Snapshot) -> None:
    fraction = min(1.0, snap.epoch / snap.epochs)
    st.progress(fraction, text=f"Epoch {snap.epoch:,} of {snap.epochs:,} · step {snap.step:,} · "
                               f"{snap.steps_per_second:,.0f} steps/s")
    status_message(snap)
    classroom.lesson_progress(run, snap, SLOT)
    if len(snap.history):
        last = snap.history.iloc[-1]
        columns = st.columns(4)
        columns[0].metric("Train loss", f"{last.train_loss:.4f}")
        columns[1].metric("Test loss", f"{last.test_loss:.4f}")
        columns[2].metric("Test accuracy", "—" if pd.isna(last.test_accuracy) else f"{last.test_accuracy:.1%}")
        columns[3].metric("Learning rate", f"{last.lr:.3g}")
    left, right = st.columns(2)
    with left:
        live_chart(loss_figure(snap.history, snap.step_losses, snap.loss_stride, snap.steps_per_epoch,
                               changes=snap.changes), "train_loss_chart", revision=id(run))
    with right:
        live_chart(accuracy_figure(snap.history), "train_accuracy_chart", revision=id(run))


st.title("Train")
lesson.panel(SLOT)
spec = session.get_spec(SLOT).latest()  # the settings in force, changes made while training included
n_hidden = len(spec.model.layers)
st.caption(f"Training **{spec.data.name}** with {n_hidden} hidden layer{'s' * (n_hidden != 1)} "
           f"({', '.join(layer.type for layer in spec.model.layers) or 'output layer only'}).")
st.page_link("views/build.py", label="Change the data or the layers on Build", icon=":material/construction:")
settings, main = st.columns([1, 2], gap="large")
with settings, st.container(height=720, border=False):
    train, seed, spec_ok = train_controls(spec.train, spec.seed, SLOT)
if spec_ok:
    candidate = spec.replace(seed=seed, train=train)
    if not session.change_live(candidate, SLOT) and candidate != spec:  # live settings: the run goes on
        session.set_spec(candidate, SLOT)
else:
    main.warning("A setting needs fixing (marked on the left) before a run can start.")

run = session.current_run(SLOT)
with main:
    buttons(run, spec_ok)
    if run is not None:
        if run.spec.latest() != session.get_spec(SLOT).latest():
            st.info("The settings have changed since this run started; Start begins a new run with them.")
        live_view(run, draw)
