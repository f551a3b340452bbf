"""A Plotly chart that stays on the page while its figure changes: each redraw updates the same graph.

Streamlit 1.67's `st.plotly_chart` derives its element's identity from the figure (even with `key=`), so
a chart whose figure changes is unmounted and mounted again: a live chart blanks on every redraw. This
view is a components-v2 element with a stable key instead; the browser keeps one Plotly.js graph in it
and applies each new figure with `Plotly.react` (`uirevision` keeps the user's zoom and hover). The
figures still come from the pure functions in playground/charts.

Plotly.js is plotly.js's cartesian bundle in static/ (static/README.md says where it comes from), served by
Streamlit's static file serving (`server.enableStaticServing`, .streamlit/config.toml): no CDN, so the app
works offline. It is not inlined into the component, because a component's JavaScript travels with every
update of it.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st

PLOTLY_FILE = "plotly-cartesian.min.js"   # in static/, served at <app>/app/static/

_JS = """
function loadPlotly() {
  // one <script> per page, shared by every live chart; resolves to window.Plotly
  if (!window.__playgroundPlotly) {
    window.__playgroundPlotly = new Promise((resolve, reject) => {
      if (window.Plotly) { resolve(window.Plotly); return; }
      const base = window.location.pathname.replace(/[^/]*$/, "");   // the app's root, under any base path
      const script = document.createElement("script");
      script.src = base + "app/static/%(file)s";
      script.onload = () => resolve(window.Plotly);
      script.onerror = () => { window.__playgroundPlotly = null; reject(new Error("plotly.js did not load")); };
      document.head.appendChild(script);
    });
  }
  return window.__playgroundPlotly;
}

export default function (component) {
  const { data, parentElement, setTriggerValue } = component;
  let graph = parentElement.querySelector(".pg-live-chart");
  if (!graph) {
    graph = document.createElement("div");
    graph.className = "pg-live-chart";
    parentElement.appendChild(graph);
    graph.addEventListener("click", (event) => {
      // where in the plot area, as fractions (paper coordinates), and on the first axes (data coordinates)
      const layout = graph._fullLayout, box = graph.getBoundingClientRect();
      if (!layout || !graph.__pgClick) return;
      const px = event.clientX - box.left, py = event.clientY - box.top, xa = layout.xaxis, ya = layout.yaxis;
      const size = layout._size;
      graph.__pgClick("click", { x: (px - size.l) / size.w, y: 1 - (py - size.t) / size.h,
                                 data_x: xa ? xa.p2c(px - xa._offset) : null,
                                 data_y: ya ? ya.p2c(py - ya._offset) : null });
    });
  }
  graph.__pgClick = data.clickable ? setTriggerValue : null;
  graph.__pgPreviewIn = data.preview_in;
  const figure = JSON.parse(data.figure);
  graph.style.height = (figure.layout.height || 400) + "px";   // holds its place before plotly.js is in
  loadPlotly().then((Plotly) => {
    const drawn = update(Plotly, graph, figure, data.config);
    Promise.resolve(drawn).then(() => previewOnHover(Plotly, graph));
  });
}

function previewOnHover(Plotly, graph) {
  // Hovering a point whose customdata is the index of one of this chart's layout images shows that image,
  // large, in place of the first image of the chart keyed `preview_in` (a neuron's map over the decision
  // map), in the browser alone; leaving the point puts that chart's own image back.
  if (graph.__pgHover || !graph.on) return;
  graph.__pgHover = true;
  const target = () => graph.__pgPreviewIn &&
    document.querySelector(`.st-key-${graph.__pgPreviewIn} .pg-live-chart`);
  graph.on("plotly_hover", (event) => {
    const point = event.points[0], shown = target();
    const image = point && point.customdata !== undefined && (graph.layout.images || [])[point.customdata];
    if (!image || !shown || !shown._fullLayout) return;
    shown.__pgPreview = image.source;
    Plotly.relayout(shown, { "images[0].source": image.source });
  });
  graph.on("plotly_unhover", () => {
    const shown = target();
    if (!shown || !shown.__pgPreview) return;
    shown.__pgPreview = null;
    Plotly.relayout(shown, { "images[0].source": shown.__pgHeld.sources[0] });
  });
}

function update(Plotly, graph, figure, config) {
  // Plotly.react lays out and draws every trace again (~50 ms a chart here, most of it the data points
  // under a decision map). When only layout images changed (maps drawn as PNGs), swapping their sources
  // is all there is to do (~1 ms).
  const images = figure.layout.images || [];
  const sources = images.map((image) => image.source);
  const rest = JSON.stringify([figure.data, { ...figure.layout, images: images.map(({ source, ...image }) => image) }]);
  const held = graph.__pgHeld;
  graph.__pgHeld = { rest, sources };
  if (graph.__pgPreview && images.length) images[0].source = graph.__pgPreview;   // a preview stays while hovered
  if (held && held.rest === rest && graph._fullLayout) {
    const changed = {};
    images.forEach((image, i) => {
      if (image.source !== held.sources[i]) changed[`images[${i}].source`] = image.source;
    });
    return Object.keys(changed).length ? Plotly.relayout(graph, changed) : null;
  }
  return Plotly.react(graph, figure.data, figure.layout, config);
}
""" % {"file": PLOTLY_FILE}



@dataclass(frozen=True)
class ChartClick:
    """Where a click fell: in the plot area as paper coordinates (0..1 across, 0..1 up), and on the chart's
    first axes (data coordinates; None where the chart has none)."""
    x: float
    y: float
    data_x: float | None
    data_y: float | None


_live_chart = st.components.v2.component("playground_live_chart", js=_JS, isolate_styles=False)


def figure_json(fig: go.Figure, key: str, revision: object = None) -> str:
    """`fig` as live_chart sends it: its JSON, keeping the user's zoom while `revision` is the same. A figure that
    never changes can be serialised once with this and passed to live_chart as the string.

    The JSON is plotly's (numpy arrays as plotly.js typed arrays), written from the figure's own dicts:
    `fig.to_json()` deep-copies the figure and walks it again to find the arrays, a third of a live redraw's
    time on the server. A figure holding a NaN outside an array (JSON has no NaN) goes through plotly."""
    fig.layout["uirevision"] = f"{key}:{revision}"
    try:  # plotly's own dicts (BaseFigure._data, _layout: what its to_dict copies), read, never changed
        return json.dumps({"data": _plain(fig._data), "layout": _plain(fig._layout)}, allow_nan=False,
                          separators=(",", ":"))
    except ValueError:
        return fig.to_json()


_TYPED = {"int8": "i1", "uint8": "u1", "int16": "i2", "uint16": "u2", "int32": "i4", "uint32": "u4",
          "float32": "f4", "float64": "f8"}   # the arrays plotly.js reads as {"dtype", "bdata"}
_UNTYPED_KEYS = frozenset({"geojson", "layer", "layers", "range"})  # what plotly sends as plain lists


def _plain(value: Any, typed: bool = True) -> Any:
    """`value` as JSON-ready values, numpy arrays as plotly.js typed arrays (as plotly's to_json writes them)."""
    if isinstance(value, dict):
        return {k: _plain(v, k not in _UNTYPED_KEYS) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return _typed_array(value) if typed and value.size else value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _typed_array(a: np.ndarray) -> Any:
    if a.dtype in (np.int64, np.uint64):  # plotly.js has no 64-bit integers: the narrowest type that holds them
        narrow = (np.int8, np.int16, np.int32) if a.dtype == np.int64 else (np.uint8, np.uint16, np.uint32)
        fits = [t for t in narrow if np.iinfo(t).min <= a.min() and a.max() <= np.iinfo(t).max]
        if not fits:
            return a.tolist()
        a = a.astype(fits[0])
    if str(a.dtype) not in _TYPED:
        return a.tolist()
    typed = {"dtype": _TYPED[str(a.dtype)], "bdata": base64.b64encode(np.ascontiguousarray(a)).decode("ascii")}
    return {**typed, "shape": str(a.shape)[1:-1]} if a.ndim > 1 else typed


def live_chart(fig: go.Figure | str, key: str, config: dict | None = None,
               on_click: Callable[[ChartClick], bool | None] | None = None, preview_in: str | None = None,
               revision: object = None) -> None:
    """Draw `fig` (a figure, or figure_json's string) in the chart `key`, updating it in place if the page
    already shows it. `on_click(click)`, if given, is called (as a widget's callback, before the rerun) with
    where a click fell; if it returns True, the whole page runs again (for what it changed outside the
    chart's fragment). With `preview_in`
    (another live chart's key), hovering a point whose customdata is an image index of `fig` shows that
    image in that chart. The user's zoom and hover stay while `revision` does (default: as long as the chart
    is shown; give the run, so that a new run's curves are not drawn in the old one's axes)."""
    if st.session_state.pop(f"{key}:rerun_app", False):
        st.rerun(scope="app")
    data = {"figure": fig if isinstance(fig, str) else figure_json(fig, key, revision),
            "config": {"responsive": True, **(config or {})}, "clickable": on_click is not None,
            "preview_in": preview_in}
    if on_click is None:
        _live_chart(key=key, data=data)
    else:
        _live_chart(key=key, data=data, on_click_change=lambda: _clicked(key, on_click))


def _clicked(key: str, on_click: Callable[[ChartClick], bool | None]) -> None:
    where = st.session_state[key]["click"]
    if where:
        data = [None if where.get(k) is None else float(where[k]) for k in ("data_x", "data_y")]
        if on_click(ChartClick(float(where["x"]), float(where["y"]), *data)):
            st.session_state[f"{key}:rerun_app"] = True
