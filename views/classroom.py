"""Classroom: students join a class and do its lesson; the teacher starts a class and watches it live."""
import streamlit as st

from playground import SpecError
from playground.classroom import ClassError
from playground.lesson import course
from ui import classroom, lesson, session

st.title("Classroom")
join_tab, teach_tab = st.tabs(["Join a class", "Teach"])

with join_tab:
    member = session.class_ticket()
    if member is not None:
        st.success(f"You are in class {member.class_code} as {lesson.escape(member.name)}.")
        if (current := session.lesson()) is not None:
            st.page_link(lesson.PAGES[lesson.slot_of(current)], label="Go to the lesson", icon=":material/school:")
    with st.form("class_join"):
        code = st.text_input("Class code", max_chars=16, key="class_join_code",
                             value=st.query_params.get("join", ""), help="your teacher shows it")
        name = st.text_input("Display name", max_chars=40, key="class_join_name",
                             help="what your teacher sees next to your runs")
        secret = st.text_input("Rejoin key (only to go on from another browser)", max_chars=40,
                               key="class_join_secret")
        joined = st.form_submit_button("Join", type="primary", key="class_join_submit")
    if joined:
        try:
            page = classroom.join(code, name, secret)
        except (ClassError, SpecError) as e:
            st.error(f"Could not join — {e}.")
        else:
            st.switch_page(page)

with teach_tab:
    if classroom.TEACHER_KEY in st.session_state:
        classroom.teacher_view()
    else:
        lessons = course()
        st.markdown("**Start a class**: your students join with its code and do this lesson.")
        with st.container(horizontal=True, vertical_alignment="bottom"):
            chosen = st.selectbox("Lesson", list(lessons), format_func=lambda k: lessons[k].title,
                                  key="class_lesson")
            st.button("Start the class", key="class_start", type="primary", on_click=classroom.start_class,
                      args=(lessons[chosen],))
        if problem := st.session_state.pop("class_start_problem", None):
            st.error(problem)
        st.markdown("**Open a class** you started before:")
        with st.form("class_open_form"):
            code = st.text_input("Class code", max_chars=16, key="class_open_code")
            key = st.text_input("Teacher's key", type="password", max_chars=40, key="class_open_key")
            opened = st.form_submit_button("Open", key="class_open_submit")
        if opened:
            try:
                classroom.open_class(code, key)
            except ClassError as e:
                st.error(f"Could not open the class — {e}.")
            else:
                st.rerun()
