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
TEMPLATE = "plotly_white"
# Every figure starts from TEMPLATE as plotly's default: naming it on each figure instead cost ~12 ms a
# figure (plotly validates a fresh copy), a third of a live redraw, which a class of 30 pays many times a second.
pio.templates.default = TEMPLATE


def style(fig: go.Figure, x_title: str, y_title: str, height: int) -> go.Figure:
    """The layout every chart shares: height, tight margins, a legend above, axis titles."""
    fig.update_layout(dict(height=height, margin=dict(l=10, r=10, t=30, b=10),  # nested dicts: plotly parses
                           legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0),  # each "a_b" key path,
                           xaxis=dict(title=dict(text=x_title)), yaxis=dict(title=dict(text=y_title))))  # slowly
    return fig
