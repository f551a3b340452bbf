"""One palette for every figure: train vs test, class 0 vs class 1, positive vs negative weights."""
import plotly.graph_objects as go
import plotly.io as pio

TRAIN = "#1f77b4"
TEST = "#ff7f0e"
CLASS_0 = "#f59322"   # TF Playground's orange (negative)
CLASS_1 = "#0877bd"   # TF Playground's blue (positive)
POSITIVE = CLASS_1
NEGATIVE = CLASS_0
CHANGE = "#6a3d9a"    # a setting changed while the run trained
DIVERGING = [[0.0, CLASS_0], [0.5, "#e8eaeb"], [1.0, CLASS_1]]  # for decision maps and weight heatmaps
CLASSES = [[0.0, CLASS_0], [1.0, CLASS_1]]  # points coloured by class as 0/1 numbers on this scale
CLASS_COLOURS = (CLASS_0, CLASS_1, "#2ca02c", "#d62728", "#9467bd", "#8c564b")  # multi-class sets, up to 6
CLASS_COLOUR_NAMES = ("orange", "blue", "green", "red", "purple", "brown")       # the same, in words
TEMPLATE = "plotly_white"
# Every figure starts from TEMPLATE as plotly's default: naming it on each figure instead cost ~12 ms a
# figure (plotly validates a fresh copy), a third of a live redraw, which a class of 30 pays many times a second.
pio.templates.default = TEMPLATE


def layout(x_title: str, y_title: str, height: int, xaxis: dict | None = None, yaxis: dict | None = None,
           **more) -> dict:
    """The layout every chart shares, as a plain dict: height, tight margins, a legend above, axis titles."""
    return dict(height=height, margin=dict(l=10, r=10, t=30, b=10),
                legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),
                xaxis=dict(title=dict(text=x_title), **(xaxis or {})),
                yaxis=dict(title=dict(text=y_title), **(yaxis or {})), **more)


def style(fig: go.Figure, x_title: str, y_title: str, height: int) -> go.Figure:
    """`layout` applied to a figure built with plotly's objects (the static charts)."""
    return fig.update_layout(layout(x_title, y_title, height))


def figure(data: list[dict], layout: dict) -> go.Figure:
    """A figure from plain dicts, left unvalidated (`_validate=False`).

    The live charts are rebuilt on every redraw, and plotly's validation of each property was nine tenths
    of building one (bench/README.md). tests/test_charts_training.py validates every live chart's figure
    once, so a misspelt property still fails a test.
    """
    return go.Figure({"data": data, "layout": layout}, _validate=False)
