"""The lagwatch dashboard: `lagwatch dashboard -c FILE` runs this with Streamlit.

This file only sets up the shell (config, login, navigation, time range and
refresh controls); each page is a file in ``views/`` and reads the store
through ``dashboard/data.py`` only.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import streamlit as st
from streamlit.navigation.page import StreamlitPage

# Streamlit runs this file as a script. Installed, `lagwatch` is importable; run from a
# checkout without installing, the folder that holds the `lagwatch` package is put on the path.
if importlib.util.find_spec("lagwatch") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lagwatch.config import ConfigError
from lagwatch.dashboard import data, summary, ui
from lagwatch.dashboard.login import require_login
from lagwatch.dashboard.pages import PAGES
from lagwatch.store import StoreUnavailable

st.set_page_config(page_title="lagwatch", page_icon=":material/timer:", layout="wide")

try:
    config = data.config()
except ConfigError as exc:
    st.error("The config file cannot be used:\n\n" + "\n".join(f"- {p}" for p in exc.problems))
    st.stop()

require_login(config.dashboard)
ui.sync_params()


def _alerts_title() -> str:
    try:
        firing = len(summary.firing(data.alerts()))
    except StoreUnavailable:
        return "Alerts"
    return f"Alerts · {firing} firing" if firing else "Alerts"


pages: dict[str, list[StreamlitPage]] = {}
for spec in PAGES:
    title = _alerts_title() if spec.url_path == "alerts" else spec.title
    pages.setdefault(spec.section, []).append(
        st.Page(
            spec.file, title=title, icon=spec.icon, url_path=spec.url_path, default=spec.default
        )
    )
page = st.navigation(pages)
ui.sidebar_controls()
page.run()
