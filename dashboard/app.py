"""The lagwatch dashboard: `lagwatch dashboard -c FILE` runs this with Streamlit."""

from __future__ import annotations

import os
import sys

import pandas as pd
import streamlit as st

from lagwatch.config import load
from store import StoreUnavailable, open_store


def _config_path() -> str:
    args = sys.argv[1:]
    if "--config" in args:
        return args[args.index("--config") + 1]
    return os.environ.get("LAGWATCH_CONFIG", "lagwatch.yaml")


@st.cache_resource
def _config():
    return load(_config_path())


st.set_page_config(page_title="lagwatch", layout="wide")
st.title("lagwatch")
store = open_store(_config().store, read_only=True)
try:
    health = store.latest("lagwatch_collector_up")
except StoreUnavailable as exc:
    st.warning(f"No data yet: {exc}")
    health = []
finally:
    store.close()
if not health:
    st.info("No collector has reported yet. Start `lagwatch run -c FILE`.")
else:
    st.subheader("Collectors")
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "collector": v.label_dict.get("collector"),
                    "up": "yes" if v.value else "no",
                    "error": v.note or "",
                    "at": pd.Timestamp(v.ts, unit="s", tz="UTC"),
                }
                for v in health
            ]
        ),
        hide_index=True,
    )
