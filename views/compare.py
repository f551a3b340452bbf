"""Compare: this session's runs side by side — loss curves, the settings that differ, final metrics."""
import streamlit as st

from playground.charts import diagnostics as dg
from ui.session import MAIN, PLAYGROUND, FinishedRun, current_run, finished_runs

CURRENT = {MAIN: "current run", PLAYGROUND: "current playground run"}

st.title("Compare")


def session_runs() -> dict[str, FinishedRun]:
    """Finished runs by name, plus each slot's current run once it has trained a step."""
    runs = {r.name: r for r in finished_runs()}
    for slot, name in CURRENT.items():
        run = current_run(slot)
        snap = run.snapshot() if run is not None else None
        if snap is not None and snap.step > 0:
            runs[name] = FinishedRun(name, run.spec, snap.history, snap.state)
    return runs


def compare(runs: dict[str, FinishedRun]) -> None:
    labels = dg.run_labels({name: r.spec.to_dict() for name, r in runs.items()})
    names = st.multiselect("Runs to show", list(runs), default=list(runs)[-3:], format_func=labels.get,
                           key="compare_runs", help="Each run is named by the settings where the runs differ")
    if not names:
        st.info("Pick at least one run.")
        return
    chosen = {labels[name]: runs[name] for name in names}
    histories = {label: r.history for label, r in chosen.items()}
    log = st.toggle("Log scale for the loss", key="compare_log",
                    help="One run's spike no longer flattens the others")
    classified = [label for label, r in chosen.items() if r.history["test_accuracy"].notna().any()]
    loss_column, accuracy_column = st.columns(2) if classified else (st.container(), None)
    loss_column.plotly_chart(dg.run_curves(histories, "loss", log), key="compare_curves")
    if accuracy_column is not None:
        accuracy_column.plotly_chart(dg.run_curves({k: histories[k] for k in classified}, "accuracy"),
                                     key="compare_accuracy")
    st.subheader("Settings that differ")
    diff = dg.settings_diff({label: r.spec.to_dict() for label, r in chosen.items()})
    if len(chosen) < 2:
        st.caption("Pick two or more runs to see what differs between them.")
    elif diff.empty:
        st.caption("These runs have identical settings; their results differ only in how long they trained.")
    else:
        st.dataframe(diff.astype(str))
    st.subheader("Final metrics")
    metrics = dg.final_metrics(histories)
    metrics.insert(0, "state", [r.state for r in chosen.values()])
    st.dataframe(metrics)
    st.download_button("Download these runs' metrics (CSV)", dg.metrics_csv(histories), "runs_metrics.csv",
                       "text/csv", key="compare_csv")


runs = session_runs()
if runs:
    compare(runs)
else:
    st.info("No runs to compare yet. Train on the **Playground** or **Train** page; each run you reset or "
            "replace is kept here, next to the current one.")
