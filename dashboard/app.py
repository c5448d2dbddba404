"""The lagwatch dashboard: `lagwatch dashboard -c FILE` runs this with Streamlit.

This file only sets up the shell (config, login, navigation, time range and
refresh controls); each page is a file in ``views/`` and reads the store
through ``dashboard/data.py`` only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st
from streamlit.navigation.page import StreamlitPage

# Streamlit runs this file as a script; make the project's packages importable.
ROOT = Path(__file__).resolve().parent.parent
if sys.path[:1] != [str(ROOT)]:
    sys.path.insert(0, str(ROOT))

from dashboard import data, summary, ui  # noqa: E402
from dashboard.login import require_login  # noqa: E402
from dashboard.pages import PAGES  # noqa: E402
from lagwatch.config import ConfigError  # noqa: E402
from store import StoreUnavailable  # noqa: E402

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
