"""Entry point: page config, navigation, and the sidebar every page shares. Pages live in pages/."""
import streamlit as st

st.set_page_config(page_title="Neural Network Playground", page_icon="🧠", layout="wide")

pages = [
    st.Page("pages/playground.py", title="Playground", icon="🎛️", default=True),
    st.Page("pages/build.py", title="Build", icon="🧱"),
    st.Page("pages/train.py", title="Train", icon="📈"),
    st.Page("pages/inspect.py", title="Inspect", icon="🔬"),
    st.Page("pages/compare.py", title="Compare", icon="⚖️"),
]
st.navigation(pages).run()
