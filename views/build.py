"""Build: stack any layers on any dataset, and see shapes and parameter counts while you edit."""
import streamlit as st

from playground import DataSpec, ExperimentSpec, SpecError
from playground.spec import ModelSpec
from ui import build, lesson, session


def data_info(data: DataSpec) -> dict | None:
    """Shape and task of the chosen data, or None after saying what is wrong (nothing downloads unasked)."""
    try:
        data.validate()
    except SpecError:
        return None  # said under the control (ui.build.data_controls)
    download = build.needs_download(data.name)
    if download and not st.session_state.get(f"build_download_{data.name}"):
        st.info(f"**{data.name}** {download}. It is fetched once into the data cache; "
                "**digits** works offline right away.")
        st.button(f"Download {data.name}", key="build_download",
                  on_click=lambda: st.session_state.update({f"build_download_{data.name}": True}))
        return None
    info = build.data_info(data, session.get_spec().seed)
    if "error" in info:
        st.error(info["error"])
        return None
    return info


def show_model(spec: ExperimentSpec, data: DataSpec, layers: list[dict], init: str) -> None:
    """Validate the edited stack on the chosen data; a valid one becomes the spec the Train page trains."""
    info = data_info(data)
    if info is None:
        return
    try:
        model = ModelSpec.from_dict({"layers": layers, "init": init})
        candidate = spec.replace(data=data, model=model, train=build.fit_loss(spec.train, info["task"]))
        summary = build.summary_frame(candidate, info)
    except SpecError as e:
        where = e.field.replace("model.layers[", "layer ").replace("]", "")
        st.error(f"**{where.capitalize()}**: {e.reason}.\n\nYour layers are kept: fix this one, move it, or "
                 "remove it.")
        return
    session.set_spec(candidate)
    st.dataframe(summary, hide_index=True, width="stretch")
    st.caption(f"{summary['params'].sum():,} parameters · {info['task']} · {info['n_train']:,} training and "
               f"{info['n_test']:,} test examples · loss {candidate.train.loss}")
    st.page_link("views/train.py", label="Train this network", icon=":material/monitoring:")


st.title("Build")
lesson.panel(session.MAIN)
spec = session.get_spec()
st.subheader("Data")
data = build.data_controls(spec.data)
st.subheader("Layers")
st.caption("Hidden layers, input side first. The output layer is added for you, sized to the task.")
layers = build.layer_editor(spec.model)
init = build.init_control(spec.model)
st.subheader("Summary")
show_model(spec, data, layers, init)
