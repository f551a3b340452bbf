"""Doing a lesson in the app: starting one (from the course, a file or a link), its panel on the page it
runs on (prompt, question, hints, solution), and the goal's progress, live while the run trains.

A lesson's experiment goes to the Playground when the Playground can show it (toy data, a small dense
stack), else to Build and Train. Its hidden and locked controls are applied by ui/controls.field_input
(and the Playground's own buttons) through session.restricted.
"""
from __future__ import annotations

import streamlit as st

from playground import Run, Snapshot, SpecError
from playground.classroom import ClassError, open_store
from playground.inspection import num_params
from playground.lesson import Goal, GoalStatus, Lesson, course
from playground.play_settings import fits_playground

from . import session
from .share import encode_json, inflate

LESSON_PARAM, COURSE_PARAM = "lesson", "course"   # ?lesson=<token of its JSON>, ?course=<built-in lesson id>
ANSWER_KEY, HINTS_KEY = "lesson_answer", "lesson_hints_shown"
PAGES = {session.PLAYGROUND: "views/play.py", session.MAIN: "views/build.py"}


def slot_of(lesson: Lesson) -> str:
    """Where the lesson runs: the page it names, else the Playground if the Playground can show it."""
    if lesson.page is not None:
        return session.PLAYGROUND if lesson.page == "playground" else session.MAIN
    return session.PLAYGROUND if fits_playground(lesson.experiment) else session.MAIN


def start(lesson: Lesson, lesson_id: str | None = None) -> str:
    """Make `lesson` this session's: its experiment in its slot, the question unanswered, no hint shown.
    Returns the page (path) it runs on. Raises SpecError, changing nothing, if its experiment names a
    file on the server."""
    slot = slot_of(lesson)
    if lesson.solution is not None:
        session.check_outside_spec(lesson.solution)   # refused now, not when a teacher loads it
    session.load_spec(lesson.experiment, slot)
    session.reset_run(slot)
    st.session_state[session.LESSON_KEY], st.session_state["lesson_id"] = lesson, lesson_id
    for key in (ANSWER_KEY, HINTS_KEY):
        st.session_state.pop(key, None)
    return PAGES[slot]


def leave() -> None:
    for key in (session.LESSON_KEY, "lesson_id", ANSWER_KEY, HINTS_KEY):
        st.session_state.pop(key, None)
    st.query_params.pop(LESSON_PARAM, None)
    st.query_params.pop(COURSE_PARAM, None)


def link_token(lesson: Lesson) -> str:
    return encode_json(lesson.to_dict())


def apply_lesson_link() -> None:
    """Start the lesson in `?course=` or `?lesson=` when the session opens (before its share link is read, so a
    reloaded page keeps the student's newest settings); a bad link warns and changes nothing."""
    if st.session_state.get("_lesson_link_read"):
        return
    st.session_state["_lesson_link_read"] = True
    lesson_id, token = st.query_params.get(COURSE_PARAM), st.query_params.get(LESSON_PARAM)
    try:
        if lesson_id is not None:
            lessons = course()
            if lesson_id not in lessons:
                raise SpecError("course", f"has no lesson {lesson_id[:40]!r}; the course's lessons are "
                                          f"{', '.join(lessons)}")
            start(lessons[lesson_id], lesson_id)
        elif token is not None:
            start(Lesson.from_json(inflate(token, "lesson")))
    except SpecError as e:
        st.warning(f"The lesson in this link could not be opened — {e}.")


def play_blocked() -> str | None:
    """Why Play waits (the lesson's question is not answered yet), or None."""
    current = session.lesson()
    if current is not None and current.question and not st.session_state.get(ANSWER_KEY, "").strip():
        return "answer the lesson's question first"
    return None


def panel(slot: str) -> None:
    """The current lesson's box on the page its experiment runs on: title, prompt, question, hints, solution."""
    current = session.lesson()
    if current is None:
        return
    if slot_of(current) != slot:
        st.info(f"Your lesson, {escape(current.title)}, runs on the "
                f"{'Playground' if slot_of(current) == session.PLAYGROUND else 'Build and Train pages'}.")
        st.page_link(PAGES[slot_of(current)], label="Go to the lesson", icon=":material/school:")
        return
    with st.container(border=True, key="lesson_panel"):
        head = st.columns([6, 1], vertical_alignment="center")
        head[0].markdown(f"**Lesson: {escape(current.title)}** · goal: {current.goal.describe()}")
        head[1].button("Leave", key="lesson_leave", on_click=leave, help="back to the free Playground")
        if current.prompt:
            st.markdown(escape(current.prompt))
        if (member := session.class_ticket()) is not None:
            st.caption(f"In class {member.class_code} as {escape(member.name)}: your runs are sent to your teacher. "
                       f"To go on from another browser, join again with your rejoin key {member.secret}.")
        if current.question:
            st.text_input(f"Before you press Play: {current.question}", key=ANSWER_KEY, max_chars=300)
        shown = st.session_state.get(HINTS_KEY, 0)
        for hint in current.hints[:shown]:
            st.info(escape(hint), icon=":material/lightbulb:")
        if shown < len(current.hints):
            st.button(f"Show a hint ({shown + 1} of {len(current.hints)})", key="lesson_hint",
                      on_click=st.session_state.__setitem__, args=(HINTS_KEY, shown + 1), type="tertiary")
        with st.container(horizontal=True, vertical_alignment="center"):
            lesson_id = st.session_state.get("lesson_id")
            query = f"{COURSE_PARAM}={lesson_id}" if lesson_id else f"{LESSON_PARAM}={link_token(current)}"
            st.markdown(f"[This lesson's link](./?{query})", help="copy it to give the lesson to someone")
            st.download_button("Download this lesson (JSON)", current.to_json(), "lesson.json", "application/json",
                               key="lesson_download", type="tertiary")
        if current.solution is not None and _may_see_solution():
            with st.expander("Solution (for the teacher)"):
                st.button("Load the solution's settings", key="lesson_solution", on_click=_load_solution,
                          args=(current, slot))


def _may_see_solution() -> bool:
    """A student in a class sees the lesson's solution once the teacher reveals it; on their own, always."""
    member = session.class_ticket()
    try:
        return member is None or open_store().solution_shown(member.class_code)
    except ClassError:
        return False


def _load_solution(current: Lesson, slot: str) -> None:
    session.load_spec(current.solution, slot)
    session.reset_run(slot)


def goal_progress(run: Run, snap: Snapshot, slot: str) -> GoalStatus | None:
    """The goal against the run's history (`slot`'s run), in the live view: progress, then "reached at epoch
    N". Returns the status (None outside a lesson, or on the other slot's page)."""
    current = session.lesson()
    if current is None or slot_of(current) != slot:
        return None
    goal = current.goal
    params = run.read(num_params)
    status = goal.status(snap.history, params, snap.done)
    if status.reached:
        st.success(f"Goal reached at epoch {status.reached_at:,}: {goal.describe()}.", icon=":material/flag:")
    elif not status.params_ok:
        st.warning(f"The network has {params:,} parameters; the goal allows {goal.max_params:,}.")
    elif status.current is None:
        st.caption(f"Goal: {goal.describe()}.")
    else:
        _progress_bar(goal, status, snap)
    return status


def _progress_bar(goal: Goal, status: GoalStatus, snap: Snapshot) -> None:
    late = goal.within_epochs is not None and snap.epoch >= goal.within_epochs
    st.progress(_fraction(goal, status.best),
                text=f"Goal: {goal.describe()} · now {status.current:.3g}, best {status.best:.3g}"
                     + (" · not reached in time: change something and start again" if late or snap.done else "")
                     + (" · judged when the run ends" if goal.at_end and not snap.done else ""))


def _fraction(goal: Goal, best: float) -> float:
    """How near the best value is to the goal, 0..1 (a ratio: losses fall towards it, accuracies rise)."""
    if goal.op in ("<=", "<"):
        return min(1.0, goal.value / best) if best > 0 else 1.0
    return max(0.0, min(1.0, best / goal.value)) if goal.value > 0 else 1.0


def escape(text: str) -> str:
    """A lesson's text as plain words in markdown: a lesson file may come from anyone."""
    return "".join("\\" + c if c in "\\`*_{}[]()#+-.!|<>~$:" else c for c in text)
