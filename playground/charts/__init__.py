"""Pure functions: data (DataFrame, Snapshot, arrays) -> plotly Figure. No streamlit here."""
