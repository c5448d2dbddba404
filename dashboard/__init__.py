"""The Streamlit dashboard: reads the store only."""
