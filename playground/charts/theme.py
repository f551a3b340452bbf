"""One palette for every figure: train vs test, class 0 vs class 1, positive vs negative weights."""
import plotly.graph_objects as go
import plotly.io as pio

TRAIN = "#1f77b4"
TEST = "#ff7f0e"
CLASS_0 = "#f59322"   # TF Playground's orange (negative)
CLASS_1 = "#0877bd"   # TF Playground's blue (positive)
POSITIVE = CLASS_1
NEGATIVE = CLASS_0
DIVERGING = [[0.0, CLASS_0], [0.5, "#e8eaeb"], [1.0, CLASS_1]]  # for decision maps and weight heatmaps
TEMPLATE = "plotly_white"
# Every figure starts from TEMPLATE as plotly's default: naming it on each figure instead cost ~12 ms a
# figure (plotly validates a fresh copy), a third of a live redraw, which a class of 30 pays many times a second.
pio.templates.default = TEMPLATE


def style(fig: go.Figure, x_title: str, y_title: str, height: int) -> go.Figure:
    """The layout every chart shares: height, tight margins, a legend above, axis titles."""
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=30, b=10),
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, x=0), xaxis_title=x_title,
                      yaxis_title=y_title)
    return fig
