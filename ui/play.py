"""The Playground's pieces: TF-Playground-style controls over the playground spec, and its live panels.

Settings are TF Playground's (its learning-rate and regularization-rate lists, up to 6 hidden layers of
up to 8 neurons, one activation for all). The loss follows the dataset's task. The learning rate, the
regularization rate and the batch size change the running run, as in TF Playground (recorded in its
train.changes, so its file and exported script replay them); any other change makes a new run, and the
old one is archived by ui.session.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace
from functools import partial

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from playground import ExperimentSpec, Run, Snapshot, SpecError, drawn, registry
from playground.charts import (dataset_thumbnails, decision_boundary_figure, link_at, link_name, loss_figure,
                               network_diagram, thumbnail_at)
from playground.charts.theme import CLASS_COLOUR_NAMES
from playground.data import (DATASETS, DRAWN, MAX_DRAWN_CLASSES, MAX_DRAWN_POINTS, MIN_DRAWN_POINTS, TOY_DATASETS,
                             TOY_FEATURES)
from playground.data.toy import PLANE_HALF_WIDTH, make_toy
from playground.plane import PlaneView, decision_grid, plane_view, toy_points
from playground.play_settings import MAX_HIDDEN_LAYERS, MAX_UNITS, PlaySettings
from playground.registry import RANGES

from . import anatomy, classroom, lesson, session
from .controls import INIT_FIELD, Field, field_input
from .live import status_message
from .live_chart import ChartClick, figure_json, live_chart

SLOT = session.PLAYGROUND
LEARNING_RATES = (0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
REG_RATES = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
NEW_LAYER_UNITS = 4
GRID, NODE_GRID = 60, 20          # decision map and per-neuron map resolutions
DIAGRAM_HEIGHT = 430
THUMBNAILS_KEY = "pg_thumbnails"
LINK_KEY = "pg_link"             # the diagram's link whose weight is being edited: (layer, unit, source)
BOARD_KEY = f"{SLOT}:board"      # the drawn points (a link's load clears it, like the controls' keys)
PENS = (*range(MAX_DRAWN_CLASSES), "value", "erase")
KEEP_PLAYING_KEY = "pg_keep_playing"
# Training speed while you watch, epochs a second. The default keeps each redraw of the live view (~5 a second
# for one user) about 2 epochs from the last, as TF Playground shows every epoch; "max" trains as fast as it can.
SPEEDS = {"1": 1.0, "3": 3.0, "10": 10.0, "30": 30.0, "max": None}
DEFAULT_SPEED = "10"
FEATURE_LABELS = {"x1": "X₁", "x2": "X₂", "x1^2": "X₁²", "x2^2": "X₂²", "x1x2": "X₁X₂",
                  "sin_x1": "sin(X₁)", "sin_x2": "sin(X₂)"}
FIELDS = {
    "data.name": Field("Dataset", "radio", (*TOY_DATASETS, DRAWN)),
    "data.train_percent": Field("Ratio of training to test data (%)", "slider", lo=10, hi=90, step=10),
    "data.noise_percent": Field("Noise (%)", "slider", lo=0, hi=50, step=5),
    "train.batch_size": Field("Batch size", "slider", lo=1, hi=30),
    "train.lr": Field("Learning rate", "steps", LEARNING_RATES),
    "activation": Field("Activation", "select", tuple(registry.ACTIVATIONS)),
    "train.regularization": Field("Regularization", "select", registry.REGULARIZATIONS),
    "train.reg_rate": Field("Regularization rate", "steps", REG_RATES),
    "model.init": replace(INIT_FIELD, label="Initialization"),
}


def _field(name: str, value, **kwargs):
    return field_input(f"{SLOT}:{name}", FIELDS[name], value, **kwargs)


@st.cache_resource(show_spinner=False)
def _thumbnails(selected: str) -> go.Figure:
    """The data sets' thumbnails, built once per selection for the whole server: they never change, and
    building them was two thirds of a Playground page run (st.plotly_chart only reads the figure)."""
    sets = {}
    for name in TOY_DATASETS:
        _, labels, _, _, points, _ = make_toy(name, 300, 0.0, 0.05, ("x1", "x2"), 0)
        sets[name] = (points.numpy(), labels.numpy(), DATASETS[name].task)
    return dataset_thumbnails(sets, selected, height_per_row=75)


@st.cache_resource(show_spinner=False)
def _thumbnails_json(selected: str) -> str:
    """The thumbnails as the browser receives them, serialised once per selection (8 ms and 80 KB a page run)."""
    return figure_json(_thumbnails(selected), THUMBNAILS_KEY)


def data_controls(settings: PlaySettings) -> PlaySettings:
    """Dataset (with thumbnails), split, noise, batch size and Regenerate."""
    selected = st.session_state.get(f"{SLOT}:data.name", settings.dataset)
    if not session.restricted("data.name", "hide"):
        fixed = session.restricted("data.name", "lock")
        live_chart(_thumbnails_json(selected), THUMBNAILS_KEY, config={"staticPlot": True},
                   on_click=None if fixed else _pick_thumbnail)
    name = _field("data.name", settings.dataset, horizontal=True,
                  format_func=lambda n: "points: draw your own" if n == DRAWN else n)
    settings = replace(settings, dataset=name)
    if name == DRAWN:
        settings = draw_controls(settings)
    st.markdown(f"Problem type: **{'regression' if settings.task == 'regression' else 'classification'}**")
    settings = replace(settings, train_percent=_field("data.train_percent", settings.train_percent),
                       noise_percent=_field("data.noise_percent", settings.noise_percent),
                       batch_size=_field("train.batch_size", settings.batch_size))
    if not session.restricted("seed", "hide"):
        st.button("Regenerate", key="pg_regenerate", on_click=_regenerate, help="new random points and weights",
                  disabled=session.restricted("seed", "lock"))
    return settings


def _pick_thumbnail(click: ChartClick) -> None:
    """A click on a thumbnail selects its data set, as in TF Playground."""
    name = thumbnail_at(_thumbnails(st.session_state.get(f"{SLOT}:data.name", TOY_DATASETS[0])), click.x, click.y)
    if name is not None:
        st.session_state[f"{SLOT}:data.name"] = name


def draw_controls(settings: PlaySettings) -> PlaySettings:
    """The pen for drawn data: a class (or a value, for regression) to add where the map is clicked, or the
    eraser; and Clear. The board starts from the set on screen, or from the loaded experiment's points."""
    if BOARD_KEY not in st.session_state:
        run = session.current_run(SLOT)
        data = run.read(toy_points) if run is not None else None
        st.session_state[BOARD_KEY] = settings.points or (
            drawn.board_of([*data.train, *data.test], [*data.train_labels, *data.test_labels]) if data else ())
    board = st.session_state[BOARD_KEY]
    pen = st.segmented_control("Pen: click the map to add a point", PENS, default=1, key="pg_pen",
                               format_func=lambda p: f"{p} {CLASS_COLOUR_NAMES[p]}" if isinstance(p, int) else p,
                               help="a class (its colour), a value for regression, or the eraser (removes the "
                                    "point nearest the click)")
    if pen == "value":
        st.slider("Value", -1.0, 1.0, 0.5, 0.1, key="pg_pen_value", help="the target a regression learns there")
    if len(board) < MIN_DRAWN_POINTS:
        st.info(f"Click the map to draw at least {MIN_DRAWN_POINTS} points: two to train on, one to test. "
                "The map shows the last network until then.")
    with st.container(horizontal=True, vertical_alignment="center"):
        full = " (full: erase some to add more)" if len(board) >= MAX_DRAWN_POINTS else ""
        st.markdown(f"{len(board):,} of {MAX_DRAWN_POINTS:,} points{full}")
        st.button("Clear", key="pg_clear", on_click=st.session_state.__setitem__, args=(BOARD_KEY, ()),
                  help="remove every point")
    return replace(settings, points=board)


def _draw_at(click: ChartClick) -> bool:
    """A click on the decision map while drawing: the pen adds a point there or erases the nearest one."""
    pen = st.session_state.get("pg_pen")
    if st.session_state.get(f"{SLOT}:data.name") != DRAWN or pen is None or click.data_x is None:
        return False
    board = st.session_state.get(BOARD_KEY, ())
    st.session_state[KEEP_PLAYING_KEY] = True   # ensure_run: a drawing made while it trains keeps training
    if pen == "erase":
        st.session_state[BOARD_KEY] = drawn.erase_near(board, click.data_x, click.data_y)
    else:
        label = st.session_state.get("pg_pen_value", 0.5) if pen == "value" else pen
        st.session_state[BOARD_KEY] = drawn.add_point(board, click.data_x, click.data_y, label)
    return True   # the board is drawn outside the map's fragment: the page runs again


def _regenerate() -> None:
    spec = session.get_spec(SLOT)
    session.set_spec(spec.replace(seed=spec.seed + 1, init_seed=None), SLOT)


def hyper_controls(settings: PlaySettings, columns) -> PlaySettings:
    """Learning rate, activation, regularization and its rate, one per column."""
    values = {}
    for column, (field, name) in zip(columns, (("lr", "train.lr"), ("activation", "activation"),
                                                ("regularization", "train.regularization"),
                                                ("reg_rate", "train.reg_rate"))):
        with column:
            per_layer = field == "activation" and st.session_state.get("pg_per_layer", False)
            values[field] = _field(name, getattr(settings, field), disabled=per_layer)  # each layer has its own
    return replace(settings, **values)


def network_controls(settings: PlaySettings) -> PlaySettings:
    """Input feature checkboxes, and hidden layers and neurons with TF Playground's - and + buttons."""
    features = []
    for f, column in zip(TOY_FEATURES, st.columns(len(TOY_FEATURES))):
        with column:
            if field_input(f"{SLOT}:data.features.{f}", Field(FEATURE_LABELS[f], "check"), f in settings.features):
                features.append(f)
    if not features:
        st.warning("Pick at least one input feature: the network needs something to read. "
                   "The network shown is the last one that had one.")
    if session.restricted("model.layers", "hide"):
        return replace(settings, features=tuple(features))
    columns = st.columns([1.4] + [1] * MAX_HIDDEN_LAYERS)
    with columns[0]:
        _counter("Hidden layers", len(settings.hidden), 0, MAX_HIDDEN_LAYERS, "pg_layers", _change_layers)
        per_layer = st.checkbox("Per layer", value=bool(settings.layer_activations), key="pg_per_layer",
                                help="An activation for each hidden layer (TF Playground has one for all)",
                                disabled=session.restricted("activation", "lock"))
    activations = []
    for i, units in enumerate(settings.hidden):
        with columns[i + 1]:
            _counter(f"Layer {i + 1}", units, 1, MAX_UNITS, f"pg_units_{i}", _change_units, i)
            if per_layer:
                activations.append(field_input(f"{SLOT}:model.layers[{i}].activation", FIELDS["activation"],
                                               settings.activation_of(i), label_visibility="collapsed"))
    return replace(settings, features=tuple(features), layer_activations=tuple(activations))


def init_control(settings: PlaySettings) -> PlaySettings:
    return replace(settings, init=_field("model.init", settings.init))


def speed_control(run: Run) -> None:
    """How fast the run trains while you watch (not a setting of the experiment: its results do not change)."""
    speed = st.select_slider("Speed (epochs/s)", list(SPEEDS), value=DEFAULT_SPEED, key="pg_speed",
                             help="10 shows the boundary move a couple of epochs a redraw; max trains as fast as "
                                  "the server can, and the charts jump more epochs a redraw")
    if st.session_state.get("pg_paced") != (run.key, speed):  # once per run and choice: a pooled run is a call
        run.set_pace(SPEEDS[speed])
        st.session_state["pg_paced"] = (run.key, speed)


def _counter(label: str, value: int, lo: int, hi: int, key: str, change: Callable, *args) -> None:
    """A count between a - and a + button, as TF Playground shows layers and neurons; each click is one step.
    A lesson that locks the layers disables both."""
    locked = session.restricted("model.layers", "lock")
    st.caption(label)
    with st.container(horizontal=True, vertical_alignment="center", gap=None):
        st.button("", icon=":material/remove:", key=f"{key}_minus",
                  on_click=session.once_a_click(f"{key}_minus", change), args=(*args, -1),
                  type="tertiary", disabled=locked or value <= lo, help=f"one fewer ({lo} at least)")
        st.markdown(f"**{value}**")
        st.button("", icon=":material/add:", key=f"{key}_plus",
                  on_click=session.once_a_click(f"{key}_plus", change), args=(*args, 1),
                  type="tertiary", disabled=locked or value >= hi, help=f"one more ({hi} at most)")


def _change_hidden(change: Callable[[list[int]], None]) -> None:
    """Apply `change` to the stored experiment's neurons per hidden layer (a new network: a new run)."""
    spec = session.get_spec(SLOT).latest()
    settings = PlaySettings.from_spec(spec)
    hidden = list(settings.hidden)
    change(hidden)
    session.set_spec(replace(settings, hidden=tuple(hidden)).to_spec(spec), SLOT)


def _change_layers(by: int) -> None:
    def change(hidden: list[int]) -> None:
        if by > 0:
            hidden.append(NEW_LAYER_UNITS)
        else:
            hidden.pop()
    _change_hidden(change)


def _change_units(layer: int, by: int) -> None:
    def change(hidden: list[int]) -> None:
        hidden[layer] = min(MAX_UNITS, max(1, hidden[layer] + by))
    _change_hidden(change)


def ensure_run(candidate: ExperimentSpec) -> Run | None:
    """The run for `candidate` (the settings the controls show): the current one if it has them, the
    current one changed live if only live settings differ and it has begun, else a new one."""
    run = session.current_run(SLOT)
    drawing = st.session_state.pop(KEEP_PLAYING_KEY, False)   # this page run follows a click on the map
    try:
        candidate.data.validate()
    except SpecError as e:
        if e.field not in ("data.features", "data.points"):  # those are said next to their controls
            st.warning(f"These settings cannot be used ({e}); the network shown is the last valid one.")
        return run
    stored = session.get_spec(SLOT)
    if run is None:  # a stored spec with changes (from a link) replays them
        return session.new_run(stored if stored.latest() == candidate else candidate, SLOT)
    if run.spec.latest() == candidate or session.change_live(candidate, SLOT):
        return run
    playing = drawing and run.state == "running"
    new = session.new_run(candidate, SLOT)
    if new is not None and playing:
        new.start()   # a point drawn while it trained: the new set trains on at once, as the pen is used
    return new or run


def run_buttons(snap: Snapshot) -> None:
    """Play/Pause, Step (one epoch), Reset and Restart in a row; callbacks act on the run current when clicked."""
    running = snap.state == "running"
    with st.container(horizontal=True):
        waits = lesson.play_blocked() if not running else None
        st.button("Pause" if running else "Play", icon=":material/pause:" if running else ":material/play_arrow:",
                  key="pg_play", type="primary", on_click=session.once_a_click("pg_play", _play_or_pause),
                  args=("pause" if running else "play",), disabled=snap.done or bool(waits),
                  help=f"Play waits: {waits}" if waits else None)
        st.button("Step", icon=":material/skip_next:", key="pg_step", on_click=session.once_a_click("pg_step", _step),
                  disabled=snap.done or bool(waits), help="train one epoch, then pause")
        st.button("Reset", icon=":material/restart_alt:", key="pg_reset",
                  on_click=session.once_a_click("pg_reset", _reset),
                  help="new random weights, epoch 0; the old run is kept for Compare")
        st.button("Restart", icon=":material/replay:", key="pg_restart",
                  on_click=session.once_a_click("pg_restart", _restart),
                  help=f"the same starting weights again (weights seed {snap.spec.weights_seed}), epoch 0")
        anatomy.mode_toggle(SLOT)


def _play_or_pause(action: str) -> None:
    """What the button said when it was clicked ("play" or "pause"), not a toggle: a click that reaches the
    server twice still leaves the run as the user asked."""
    run = session.current_run(SLOT)
    if run is not None:
        if action == "pause":
            run.pause()
        else:
            run.start()


def _step() -> None:
    run = session.current_run(SLOT)
    if run is not None:
        run.step(run.steps_to_epoch_end())


def _reset() -> None:
    """TF Playground's Reset: new random weights (their seed is kept in the spec, so the run is reproducible)."""
    spec = session.get_spec(SLOT).latest()
    session.new_run(spec.replace(init_seed=secrets.randbelow(int(RANGES["seed"].hi) + 1)), SLOT)


def _restart() -> None:
    """Back to epoch 0 with the same starting weights (TF Playground's users asked for it: its issue #25)."""
    session.new_run(session.get_spec(SLOT).latest(), SLOT)


COLUMNS = [3, 2]    # the page's two columns under the top bar: the network, and its output


def columns() -> list:
    """The network | output columns; the page's controls and the live view each lay themselves out in them."""
    return st.columns(COLUMNS, gap="medium")


# The live parts are two fragments, each drawn inside containers it makes itself: a fragment writing into
# containers made outside it failed now and then under load (StreamlitInvalidLayoutContextError). The
# diagram and the output are one fragment, so that one snapshot draws both and a redraw is one rerun.
def draw_epoch(run: Run, snap: Snapshot) -> None:
    st.metric("Epoch", f"{snap.epoch:,}", help=f"weights seed {snap.spec.weights_seed}: Reset draws new "
                                               "weights, Restart starts again from these")


def draw_diagram(run: Run, snap: Snapshot, view: PlaneView) -> None:
    """The network diagram: links by weight, and what each input, neuron and the output computes."""
    data, maps, weights, biases = view.points, view.maps, view.weights, view.biases
    stepping = anatomy.active(snap)
    step_view = anatomy.current_view(run) if stepping else None
    figure = (anatomy.figure(step_view, data, maps, DIAGRAM_HEIGHT) if step_view is not None else
              network_diagram(weights, maps, data.feature_names, data.output_range, DIAGRAM_HEIGHT, biases))
    live_chart(figure, "pg_diagram", config={"displayModeBar": False}, preview_in="pg_boundary",  # hover: its map
               on_click=partial(_pick_link, weights))
    if stepping:
        anatomy.controls(step_view, run, data, SLOT)
    weight_editor(weights, data.feature_names)


def _pick_link(weights: list[np.ndarray], click: ChartClick) -> None:
    """A click on a link of the diagram (as drawn: `weights`) opens its weight in the editor, as in TF Playground."""
    link = link_at(weights, click.data_x, click.data_y) if click.data_x is not None else None
    if link is not None:
        layer, unit, source = link
        st.session_state[LINK_KEY], st.session_state["pg_link_value"] = link, float(weights[layer][unit, source])
        st.session_state.pop("pg_link_problem", None)


def weight_editor(weights: list[np.ndarray], input_names: tuple[str, ...]) -> None:
    """The clicked link's weight, live while it trains, and a box to type a new one that the run takes at its
    next step (recorded in the run's experiment, so its file and exported script replay it)."""
    link = st.session_state.get(LINK_KEY)
    if link is None:
        return
    layer, unit, source = link
    if layer >= len(weights) or unit >= weights[layer].shape[0] or source >= weights[layer].shape[1]:
        return   # the network changed shape since
    with st.container(horizontal=True, vertical_alignment="bottom", key="pg_link_editor"):
        st.markdown(f"**{link_name(weights, input_names, *link)}** · weight now **{weights[layer][unit, source]:.3f}**")
        st.number_input("New weight", key="pg_link_value", step=0.1, format="%.3f", width=150)
        st.button("Set", key="pg_link_set", on_click=_set_weight, args=link, type="primary")
        st.button("", icon=":material/close:", key="pg_link_close", on_click=st.session_state.pop, args=(LINK_KEY,),
                  type="tertiary", help="close the weight editor")
    if problem := st.session_state.get("pg_link_problem"):
        st.error(problem)


def _set_weight(layer: int, unit: int, source: int) -> None:
    run = session.current_run(SLOT)
    if run is None:
        return
    try:
        run.edit_weight(layer, unit, source, st.session_state["pg_link_value"])
    except SpecError as e:
        st.session_state["pg_link_problem"] = f"**New weight** {e.reason}."
        return
    st.session_state.pop("pg_link_problem", None)
    session.set_spec(run.spec, SLOT)   # the share link and the file carry the edit


def draw_network_and_output(run: Run, snap: Snapshot, show_test: bool, discretize: bool,
                            board: drawn.Board | None = None) -> None:
    view = run.read(plane_view, NODE_GRID, GRID)
    left, right = columns()
    with left:
        draw_diagram(run, snap, view)
    with right:
        draw_output(run, snap, view, show_test, discretize, board)


def draw_output(run: Run, snap: Snapshot, view: PlaneView, show_test: bool, discretize: bool,
                board: drawn.Board | None = None) -> None:
    """Losses, the decision map with the data on top, the loss curve and the run's status. While drawing
    (`board`), a click on the map adds or erases a point, every drawn point shows (train and test), and
    a board the run does not train on yet (too few points) shows over the last run's map, on the whole plane."""
    data, grid = view.points, view.grid
    if board is not None:
        show_test = True
        if snap.spec.data.points != board:
            labels = np.array([p[2] for p in board], dtype=np.float32)
            data = replace(data, train=np.array([p[:2] for p in board], np.float32).reshape(-1, 2),
                           train_labels=labels, test=np.zeros((0, 2), np.float32), test_labels=labels[:0],
                           extent=PLANE_HALF_WIDTH)
            grid = run.read(decision_grid, GRID, data.extent)
    last = snap.history.iloc[-1] if len(snap.history) else None
    st.markdown(f"Test loss **{last.test_loss:.3f}** · Training loss **{last.train_loss:.3f}**"
                if last is not None else "Test loss — · Training loss —")
    test = (data.test, data.test_labels) if show_test else (None, None)
    live_chart(decision_boundary_figure(grid, data.train, data.train_labels, data.task, *test, discretize=discretize,
                                        height=360),
               "pg_boundary", config={"displayModeBar": False}, on_click=_draw_at, revision=id(run))
    live_chart(loss_figure(snap.history, snap.step_losses, snap.loss_stride, snap.steps_per_epoch, height=200,
                           changes=snap.changes), "pg_loss", config={"displayModeBar": False}, revision=id(run))
    status_message(snap)
    classroom.lesson_progress(run, snap, SLOT)
