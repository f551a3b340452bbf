"""Pure functions: data (DataFrame, Snapshot, arrays) -> plotly Figure. No streamlit here."""
from .training import (accuracy_figure, dataset_thumbnails, decision_boundary_figure, link_at, link_name,
                       loss_figure, network_diagram, thumbnail_at)
from .diagnostics import (activation_maps, confusion_matrix_figure, filter_grid, final_metrics, gradient_flow,
                          histogram_over_time, image_figure, metrics_csv, misclassified,
                          misclassified_grid, misclassified_table, predicted_labels, run_curves,
                          run_labels, settings_diff, weight_heatmap)
