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
    names = st.multiselect("Runs", list(runs), default=list(runs)[-3:], key="compare_runs")
    if not names:
        st.info("Pick at least one run.")
        return
    chosen = {name: runs[name] for name in names}
    histories = {name: r.history for name, r in chosen.items()}
    st.plotly_chart(dg.loss_curves(histories), key="compare_curves")
    st.subheader("Settings that differ")
    diff = dg.settings_diff({name: r.spec.to_dict() for name, r in chosen.items()})
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
