"""The Classroom page's parts: a student joins a class (its lesson starts, their runs are reported), and a
teacher starts a class and watches it live: who reached the goal, a table by metric, everyone's curves.

The store is playground.classroom's database, shared by every server process; this session keeps only its
own ticket (a student) or its class code and key (a teacher). Students' names are shown as plain text: in
tables, and escaped in chart labels and markdown.
"""
from __future__ import annotations

import html
import time

import pandas as pd
import streamlit as st

from playground import Run, Snapshot, SpecError
from playground.charts import diagnostics as dg
from playground.classroom import ClassError, open_store
from playground.lesson import GoalStatus, Lesson

from . import lesson, session

TEACHER_KEY = "class_teacher"
REPORT_SECONDS = 2.0      # a student's running run is saved at most this often (and once more when it ends)
VIEW_SECONDS = 2.0        # the teacher's view reads the class this often


def join(code: str, name: str, secret: str) -> str:
    """Join the class and start its lesson; returns the page it runs on. Raises ClassError."""
    store = open_store()
    joined = store.join(code, name, secret.strip() or None)
    page = lesson.start(store.lesson_of(joined.class_code))
    st.session_state[session.TICKET_KEY] = joined
    return page


def apply_join_link() -> None:
    """Join the class in `?join=<code>&name=<name>` when the session opens (a teacher can hand each student
    a link); with no name, the Classroom page only fills the code in. A failed join warns, changes nothing."""
    if st.session_state.get("_join_link_read"):
        return
    st.session_state["_join_link_read"] = True
    code, name = st.query_params.get("join"), st.query_params.get("name")
    if code and name and session.class_ticket() is None:
        try:
            join(code, name, "")
        except (ClassError, SpecError) as e:
            st.warning(f"Could not join the class in this link — {e}.")


def lesson_progress(run: Run, snap: Snapshot, slot: str) -> None:
    """In the live view: the lesson's goal progress, and, for a student in a class, the run reported to it."""
    status = lesson.goal_progress(run, snap, slot)
    if status is not None:
        report(run, snap, status)


def report(run: Run, snap: Snapshot, status: GoalStatus) -> None:
    """Save the student's run to the class (throttled to REPORT_SECONDS, and its end once)."""
    member = session.class_ticket()
    if member is None or snap.epoch == 0:
        return
    last = st.session_state.setdefault("_class_reported", {})
    now, (at, done) = time.monotonic(), last.get(run.key, (0.0, False))
    if done or (now - at < REPORT_SECONDS and not snap.done):
        return
    try:
        open_store().record_run(member, run.key, snap.spec, snap.history, status)
    except ClassError as e:   # the student trains on; the next report tries again
        st.caption(f"This run could not be sent to your teacher just now — {e}.")
        return
    last[run.key] = (now, snap.done)


def start_class(chosen: Lesson) -> None:
    try:
        code, key = open_store().create_class(chosen)
    except ClassError as e:
        st.session_state["class_start_problem"] = f"Could not start the class — {e}."
        return
    st.session_state[TEACHER_KEY] = (code, key, True)   # True: the key has not been shown yet


def open_class(code: str, key: str) -> None:
    open_store().class_runs(code, key)   # raises ClassError for a wrong code or key
    st.session_state[TEACHER_KEY] = (code.strip().upper(), key.strip(), False)


def teacher_view() -> None:
    """The class, live: the lesson, counts, the table, the curves, and a run to open or project."""
    code, key, fresh = st.session_state[TEACHER_KEY]
    if fresh:
        st.success(f"Class **{code}** is open. Students join on this page with the code **{code}**.")
        st.warning(f"Your teacher's key, shown only now: **{key}** — write it down; it opens this view again.")
        st.session_state[TEACHER_KEY] = (code, key, False)
    with st.container(horizontal=True, vertical_alignment="center"):
        st.button("Close this view", key="class_close", on_click=st.session_state.pop, args=(TEACHER_KEY,))
        try:
            st.toggle("Show the class the solution", value=open_store().solution_shown(code), key="class_solution",
                      on_change=_show_solution, args=(code, key),
                      help="students see the lesson's solution (and can load it) once you switch this on")
        except ClassError as e:
            st.error(str(e))
    _live_class(code, key)


def _show_solution(code: str, key: str) -> None:
    try:
        open_store().show_solution(code, key, st.session_state["class_solution"])
    except ClassError as e:
        st.session_state["class_open_problem"] = f"The solution's switch did not change — {e}."


@st.fragment(run_every=VIEW_SECONDS)
def _live_class(code: str, key: str) -> None:
    if page := st.session_state.pop("class_opened", None):
        st.switch_page(page)
    try:
        current, names, runs = open_store().class_runs(code, key)
    except ClassError as e:
        st.error(str(e))
        return
    reached = {r.student for r in runs if r.reached_at is not None}
    st.markdown(f"**{lesson.escape(current.title)}** · goal: {current.goal.describe()}")
    if runs:
        st.caption(f"Latest report at {max(r.updated_at for r in runs):%H:%M:%S} UTC", help="when a student's "
                   "run was last saved; this view reads the class every few seconds")
    columns = st.columns(3)
    columns[0].metric("Students", len(names))
    columns[1].metric("Reached the goal", f"{len(reached)} of {len(names)}")
    columns[2].metric("Runs", len(runs))
    if not runs:
        st.caption("No runs yet: they appear here as students train.")
        return
    table = pd.DataFrame([{"run": r.run_id, "student": r.student, "reached at epoch": r.reached_at,
                           f"best {current.goal.metric}": r.best, f"latest {current.goal.metric}": r.metric,
                           "epochs": r.epochs, "updated": r.updated_at.strftime("%H:%M:%S")} for r in runs])
    best_first = current.goal.op in ("<=", "<")
    st.dataframe(table.sort_values(f"best {current.goal.metric}", ascending=best_first), hide_index=True,
                 width="stretch", key="class_table")   # a column header click sorts by it
    curves = {f"{html.escape(r.student)} · run {r.run_id}": r.curve for r in runs if len(r.curve)}
    st.plotly_chart(dg.run_curves(curves, "loss", log=True, height=420), key="class_curves")
    labels = {r.run_id: f"run {r.run_id} · {r.student}" for r in runs}
    picked = st.selectbox("A student's run", list(labels), format_func=labels.get, key="class_pick")
    with st.container(horizontal=True):
        st.button("Open in my Playground", key="class_open", on_click=_open_run, args=(code, key, picked, current),
                  help="the run's experiment, exactly, in your own session")
        project = st.toggle("Project it", key="class_project", help="this run's curves, large")
    if problem := st.session_state.pop("class_open_problem", None):
        st.error(problem)
    if project:
        chosen = next(r for r in runs if r.run_id == picked)
        st.plotly_chart(dg.run_curves({html.escape(labels[picked]): chosen.curve}, "loss", height=600),
                        key="class_projected")


def _open_run(code: str, key: str, run_id: int, current: Lesson) -> None:
    slot = lesson.slot_of(current)
    try:
        session.load_spec(open_store().run_experiment(code, key, run_id), slot)
    except (ClassError, SpecError) as e:   # e.g. a student's own uploaded table, which only they may read
        st.session_state["class_open_problem"] = f"This run cannot be opened here — {e}."
        return
    session.reset_run(slot)
    st.session_state["class_opened"] = lesson.PAGES[slot]
