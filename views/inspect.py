"""Inspect: is training healthy, and what has the network learned? Reads the current run; never trains."""
import streamlit as st

from playground import inspection
from playground.charts import diagnostics as dg
from playground.health import snapshot_flags
from playground.telemetry import telemetry_frame
from ui.live import live_view
from ui.live_chart import live_chart
from ui.session import current_run

MAX_EVAL = 2000     # test examples behind the confusion matrix: a fixed slice keeps a redraw per second cheap
MAX_WRONG = 50      # misclassified examples listed (images: the grid draws dg.MAX_EXAMPLES of them)

st.title("Inspect")
run = current_run()


def show_health(snap, telemetry) -> None:
    st.caption(f"Run {snap.state}: epoch {snap.epoch} of {snap.epochs}, step {snap.step}.")
    flags = snapshot_flags(snap, telemetry)
    for flag in flags:
        show = st.error if flag.severity == "error" else st.warning
        show(f"**{flag.title}** — {flag.detail}.\n\n**Try:** {flag.fix}")
    if not flags and not telemetry.empty:
        st.success("No training problems detected in the latest telemetry.")


def show_layer(layers: list[str]) -> None:
    """Histograms over time, and the weights, of one layer the user picks."""
    left, right = st.columns([3, 1])
    layer = left.selectbox("Layer", layers, key="inspect_layer")
    kind = right.segmented_control("Histogram of", ["weight", "grad"], default="weight", key="inspect_kind")
    kind = kind or "weight"  # a segmented control can be cleared
    hist = run.read(inspection.layer_histograms, layer, kind)
    live_chart(dg.histogram_over_time(hist, f"{layer}: {kind} distribution over time"), "inspect_hist")
    weight = run.read(inspection.layer_weights, layer)
    if weight.ndim == 2:
        inputs, units = run.read(inspection.weight_labels, layer)
        live_chart(dg.weight_heatmap(weight, f"{layer}: weights", inputs=inputs, units=units), "inspect_weights")
    elif weight.ndim == 4:
        live_chart(dg.filter_grid(weight, f"{layer}: {len(weight)} filters"), "inspect_filters")


def show_activations(blocks: list[str], n_test: int) -> None:
    """What each block outputs for one test image: a map per channel (conv, pool) or a row of units (dense)."""
    left, right = st.columns([1, 3])
    index = left.number_input("Test image", 0, n_test - 1, 0, key="inspect_image")
    block = right.selectbox("Block", blocks, key="inspect_block")
    image, maps = run.read(inspection.test_example, index, block)
    with left:
        live_chart(dg.image_figure(image, f"test image {index}"), "inspect_input")
    what = f"{len(maps)} activation maps" if maps.ndim == 3 else f"{len(maps)} unit activations"
    with right:
        live_chart(dg.activation_maps(maps, f"{block}: {what}"), "inspect_maps")


def show_classification() -> None:
    p = run.read(inspection.test_predictions, MAX_EVAL, MAX_WRONG)
    y_true, y_pred, wrong = p["y_true"], p["y_pred"], p["wrong"]
    live_chart(dg.confusion_matrix_figure(y_true, y_pred, p["classes"]), "inspect_confusion")
    n, n_wrong = len(y_true), len(dg.misclassified(y_true, y_pred))
    st.caption(f"{n - n_wrong} of {n} test examples right" + (f" (the first {MAX_EVAL})" if n == MAX_EVAL else ""))
    st.subheader("Misclassified examples")
    args = (p["x_wrong"], y_true[wrong], y_pred[wrong])
    if p["is_image"]:
        live_chart(dg.misclassified_grid(*args, p["classes"], ids=wrong), "inspect_wrong")
    else:
        st.dataframe(dg.misclassified_table(*args, p["features"], p["classes"], ids=wrong))


def draw(run, snap) -> None:
    info, telemetry = run.read(inspection.structure), run.read(telemetry_frame)
    show_health(snap, telemetry)
    st.subheader("Gradient flow")
    live_chart(dg.gradient_flow(telemetry), "inspect_flow")
    st.subheader("Layers")
    show_layer(info["layers"])
    if info["image_blocks"]:
        st.subheader("Activations for one test image")
        show_activations(info["image_blocks"], info["n_test"])
    if info["task"] != "regression":
        st.subheader("Confusion matrix")
        show_classification()


if run is None:
    st.info("No run yet. Build a network and train it on the **Playground** or **Train** page, "
            "then come back here to look inside it.")
else:
    live_view(run, draw)
