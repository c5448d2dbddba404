"""The lagwatch dashboard: `lagwatch dashboard -c FILE` runs this with Streamlit.

This file only sets up the shell (config, login, navigation, time range and
refresh controls); each page is a file in ``views/`` and reads the store
through ``dashboard/data.py`` only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

# Streamlit runs this file as a script; make the project's packages importable.
ROOT = Path(__file__).resolve().parent.parent
if sys.path[:1] != [str(ROOT)]:
    sys.path.insert(0, str(ROOT))

from dashboard import data, ui  # noqa: E402
from dashboard.login import require_login  # noqa: E402
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
        firing = sum(1 for a in data.alerts() if a.state == "firing")
    except StoreUnavailable:
        return "Alerts"
    return f"Alerts · {firing} firing" if firing else "Alerts"


pages = {
    "Health": [
        st.Page(
            "views/overview.py",
            title="Overview",
            icon=":material/monitor_heart:",
            url_path="overview",
            default=True,
        ),
        st.Page(
            "views/alerts.py",
            title=_alerts_title(),
            icon=":material/notifications_active:",
            url_path="alerts",
        ),
    ],
    "Pipelines": [
        st.Page(
            "views/pipeline.py", title="Pipeline", icon=":material/route:", url_path="pipeline"
        ),
    ],
    "Hops": [
        st.Page(
            "views/postgres.py", title="PostgreSQL", icon=":material/database:", url_path="postgres"
        ),
        st.Page(
            "views/mysql.py", title="MySQL / MariaDB", icon=":material/storage:", url_path="mysql"
        ),
        st.Page("views/kafka.py", title="Kafka", icon=":material/forum:", url_path="kafka"),
        st.Page("views/outbox.py", title="Outbox", icon=":material/outbox:", url_path="outbox"),
    ],
}
page = st.navigation(pages)
ui.sidebar_controls()
page.run()
