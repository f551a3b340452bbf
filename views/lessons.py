"""Lessons: the built-in course, a lesson from a file, and the link that opens each one."""
import streamlit as st

from playground import SpecError
from playground.lesson import Lesson, course
from playground.spec import MAX_SPEC_BYTES
from ui import lesson, session


def open_lesson(chosen: Lesson, lesson_id: str | None = None) -> None:
    try:
        page = lesson.start(chosen, lesson_id)
    except SpecError as e:
        st.error(f"This lesson cannot be opened — {e}.")
        return
    st.switch_page(page)


st.title("Lessons")
st.caption("Each lesson presets a network and data, hides or locks some controls, and sets a goal to reach. "
           "Share a lesson with its link; a class can do it together on the Classroom page.")
current = session.lesson()
if current is not None:
    with st.container(border=True):
        st.markdown(f"You are doing **{lesson.escape(current.title)}** · goal: {current.goal.describe()}")
        with st.container(horizontal=True):
            st.page_link(lesson.PAGES[lesson.slot_of(current)], label="Back to it", icon=":material/school:")
            st.button("Leave the lesson", key="lessons_leave", on_click=lesson.leave)

st.subheader("The course")
for number, (lesson_id, item) in enumerate(course().items(), start=1):
    with st.container(border=True, horizontal=True, vertical_alignment="center"):
        with st.container():
            st.markdown(f"**{number}. {lesson.escape(item.title)}** · goal: {item.goal.describe()}")
            st.caption(lesson.escape(item.prompt))
        st.markdown(f"[link](./?{lesson.COURSE_PARAM}={lesson_id})", width=50,
                    help="This lesson's link: copy it to send it to a class")
        if st.button("Start", key=f"lessons_start_{lesson_id}", type="primary"):
            open_lesson(item, lesson_id)

st.subheader("A lesson of your own")
st.caption("A lesson is one JSON file: see docs/lessons.md, or download one of the course's to start from.")
upload = st.file_uploader("Load a lesson (JSON)", type=["json"], max_upload_size=1, key="lessons_upload")
if upload is not None:
    try:
        if upload.size > 2 * MAX_SPEC_BYTES:
            raise SpecError("lesson", f"the file is {upload.size:,} bytes; a lesson is at most {2 * MAX_SPEC_BYTES:,}")
        mine = Lesson.from_json(upload.getvalue().decode("utf-8", errors="replace"))
    except SpecError as e:
        st.error(f"This lesson file cannot be used — {e}. Nothing was changed.")
    else:
        st.success(f"**{lesson.escape(mine.title)}** · goal: {mine.goal.describe()}")
        token = lesson.link_token(mine)
        st.markdown(f"Its link: [{lesson.escape(mine.title)}](./?{lesson.LESSON_PARAM}={token})")
        if st.button("Start it", key="lessons_start_upload", type="primary"):
            open_lesson(mine)
first = next(iter(course()))
st.download_button("Download the first lesson's file, to start from", course()[first].to_json(),
                   f"{first}.json", "application/json", key="lessons_download")
