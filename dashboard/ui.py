"""The page shell every page shares: sticky query params, time range, auto-refresh, empty states."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from html import escape
from typing import Any

import pandas as pd
import streamlit as st

from lagwatch.dashboard import data, fmt
from lagwatch.dashboard.model import OK, RANK, STALE_AFTER
from lagwatch.store import Series, StoreUnavailable

# Query params that carry over from page to page (st.navigation drops them on a switch).
STICKY = ("range", "refresh", "pipeline", "cluster", "group", "source", "slot")
RANGES = {"15m": 900.0, "1h": 3600.0, "6h": 6 * 3600.0, "24h": 86400.0, "7d": 7 * 86400.0}
REFRESH = {"off": None, "5s": 5.0, "10s": 10.0, "30s": 30.0, "1m": 60.0}
DEFAULT_RANGE, DEFAULT_REFRESH = "1h", "10s"
_MEMORY = "_sticky_params"


def sync_params() -> None:
    """Restore remembered params missing from the URL and remember the ones present."""
    remembered: dict[str, str] = st.session_state.setdefault(_MEMORY, {})
    for key in STICKY:
        if key in st.query_params:
            remembered[key] = st.query_params[key]
        elif key in remembered:
            st.query_params[key] = remembered[key]


def param(key: str, default: str | None = None) -> str | None:
    """Return a query param's value, or ``default``."""
    return st.query_params.get(key) or default


def set_param(key: str, value: str | None) -> None:
    """Set (or with None, clear) a query param and remember it for other pages."""
    remembered: dict[str, str] = st.session_state.setdefault(_MEMORY, {})
    if value is None:
        st.query_params.pop(key, None)
        remembered.pop(key, None)
    else:
        st.query_params[key] = value
        remembered[key] = value


def choice(
    label: str,
    options: Sequence[str],
    key: str,
    default: str | None = None,
    where: object = st,
    help: str | None = None,
    format_func: Callable[[str], str] = str,
) -> str | None:
    """Return the option picked in a selectbox bound to query param ``key``."""
    if not options:
        return None
    wanted = param(key, default)
    value = wanted if wanted in options else options[0]
    widget = f"_w_{key}"
    if st.session_state.get(widget) != value:
        st.session_state[widget] = value
    picked = where.selectbox(  # type: ignore[attr-defined]
        label,
        list(options),
        key=widget,
        help=help,
        format_func=format_func,
        on_change=lambda: set_param(key, st.session_state[widget]),
    )
    if wanted != picked:
        set_param(key, picked)
    return str(picked) if picked is not None else None


def sidebar_controls() -> None:
    """Draw the time-range and auto-refresh controls in the sidebar."""
    with st.sidebar:
        choice("Time range", list(RANGES), "range", DEFAULT_RANGE, st.sidebar)
        choice(
            "Auto-refresh",
            list(REFRESH),
            "refresh",
            DEFAULT_REFRESH,
            st.sidebar,
            help="How often the page reloads its data; 'off' pauses it.",
        )


def window() -> data.Window:
    """Return the selected time range ending now."""
    return data.Window.last(RANGES.get(param("range", DEFAULT_RANGE) or "", 3600.0))


def refresh_every() -> float | None:
    """Return the auto-refresh interval in seconds, or None when paused."""
    return REFRESH.get(param("refresh", DEFAULT_REFRESH) or "", REFRESH[DEFAULT_REFRESH])


def live(body: Callable[[], None]) -> None:
    """Run the page body as the page's one auto-refreshing fragment, store errors shown."""

    def guarded() -> None:
        try:
            body()
        except StoreUnavailable as exc:
            store_unavailable(exc)

    st.fragment(run_every=refresh_every())(guarded)()


def store_unavailable(exc: Exception) -> None:
    """Say that the store cannot be read, without any secret in the text."""
    st.warning(
        f"Cannot read the store: {data.redact(str(exc))}\n\n"
        "The dashboard shows what `lagwatch run` records; start it with the same config.",
        icon=":material/warning:",
    )


def freshness_banner() -> None:
    """Say when the data was read and warn when no collector has reported lately."""
    at = data.now()
    ups = data.latest("lagwatch_collector_up")
    newest = max((v.ts for v in ups), default=None)
    refresh = refresh_every()
    paused = " · auto-refresh off" if refresh is None else f" · refreshes every {refresh:g}s"
    st.caption(f"Read at {fmt.clock(at)}{paused}")
    if newest is not None and at - newest > STALE_AFTER:
        st.warning(
            f"No collector has reported for {fmt.duration(at - newest)} (last at "
            f"{fmt.clock(newest)}): the figures below are old. Is `lagwatch run` running?",
            icon=":material/pause_circle:",
        )


def not_configured(what: str, key: str, example: str) -> None:
    """Say plainly that a part is not configured, and which key to add."""
    st.info(
        f"No {what} is configured, and the store holds no data for it. "
        f"Add `{key}` to `{data.config_path()}`, for example:",
        icon=":material/extension:",
    )
    st.code(example.strip(), language="yaml")


def empty(message: str) -> None:
    """Show an explicit empty state."""
    st.info(message, icon=":material/info:")


# Label colours of a health column (light backgrounds the label text stays readable on).
LABEL = {"ok": "#d8f3dc", "warn": "#ffe8cc", "crit": "#ffd6d6", "unknown": "#e9ecef"}
HEALTH = "_health"
# Points of a sparkline in a table: enough for its shape, a few hundred bytes a row.
TREND_POINTS = 60


def table(rows: Sequence[Mapping[str, Any]], status: str | None = None, **options: Any) -> None:
    """Show rows as a table; a row's ``_health`` colours its ``status`` cell as a label.

    Colours come from column_config, not a pandas Styler: a styled frame is
    rendered cell by cell on both sides and makes big tables slow.
    """
    frame = pd.DataFrame(rows)
    healths = list(frame.pop(HEALTH)) if HEALTH in frame else []
    config = dict(options.pop("column_config", None) or {})
    if status and healths:
        # One colour per label text; should a text mean two healths, the worse one shows.
        colour: dict[str, str] = {}
        texts = [str(v) for v in frame[status]]
        for text, health in zip(texts, healths, strict=True):
            if RANK[health] >= RANK[colour.get(text, OK)]:
                colour[text] = health
        frame[status] = [[t] for t in texts]
        config[status] = st.column_config.MultiselectColumn(
            status, options=list(colour), color=[LABEL[h] for h in colour.values()]
        )
    st.dataframe(frame, hide_index=True, column_config=config, **options)


# An HTML table's look, close to st.dataframe's, in the theme's own text colour.
_CELL = "padding:0.3rem 0.6rem;border-bottom:1px solid rgba(128,128,128,0.2);vertical-align:top"
_HEAD = _CELL + ";text-align:left;font-weight:400;opacity:0.7"
_LABEL = "border-radius:0.75rem;padding:0.05rem 0.5rem;color:#31333f;background:"


def _cell_text(value: Any) -> str:
    if value is None:
        return fmt.NONE
    if isinstance(value, int | float) and not isinstance(value, bool):
        return fmt.count(value) if float(value).is_integer() else f"{value:,.4g}"
    return str(value)


def small_table(rows: Sequence[Mapping[str, Any]], status: str | None = None) -> None:
    """Show a few rows as a plain HTML table: text wraps, and the browser loads no grid for it.

    For short lists on pages that must show at once; ``_health`` colours ``status``
    as ``table`` does. Long or sortable lists belong in ``table``.
    """
    columns = list(dict.fromkeys(k for row in rows for k in row if k != HEALTH))
    head = "".join(f'<th style="{_HEAD}">{escape(c)}</th>' for c in columns)
    body = []
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            text = escape(_cell_text(value))
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if column == status and HEALTH in row:
                text = f'<span style="{_LABEL}{LABEL[row[HEALTH]]}">{text}</span>'
            align = ";text-align:right" if numeric else ""
            cells.append(f'<td style="{_CELL}{align}">{text}</td>')
        body.append(f"<tr>{''.join(cells)}</tr>")
    st.html(
        '<table style="width:100%;border-collapse:collapse;font-size:0.875rem">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def trend_column(label: str, help: str | None = None) -> Any:
    """Return the column_config of a sparkline column (values over the selected range)."""
    return st.column_config.LineChartColumn(label, y_min=0, help=help)


def trends(
    series: Sequence[Series], key: Callable[[Series], tuple[str, ...]]
) -> dict[tuple[str, ...], list[float]]:
    """Return each series' values keyed by ``key``, for a sparkline column."""
    return {key(s): [v for _, v in s.points] for s in series}


def chart_section(label: str, key: str, draw: Callable[[], None]) -> None:
    """Draw ``draw``'s charts in an expander that runs it only when opened.

    Plotly's renderer is a large script that a browser loads and parses before
    the first chart shows (seconds on a busy machine): pages keep the figures
    on-call needs first (tables with a trend per row) above the fold and the
    zoomable charts one click away.
    """
    with st.expander(label, key=key, on_change="rerun", icon=":material/show_chart:") as box:
        if box.open:
            draw()


def chart_grid(figures: Sequence[tuple[str, Any]], columns: int = 2) -> None:
    """Draw Plotly figures side by side, ``columns`` per row; each item is (key, figure)."""
    for i in range(0, len(figures), columns):
        for column, (key, figure) in zip(
            st.columns(columns), figures[i : i + columns], strict=False
        ):
            column.plotly_chart(figure, key=key)


def pick_source(kind: str, metric: str, what: str, example: str) -> str | None:
    """Return the source to show (configured or seen in ``metric``); say so when there is none.

    Draws the source picker (when there are several), its name, masked DSN and
    the collector's error when its last run failed.
    """
    configured = {s.name: s for s in data.sources(kind)}
    names = sorted(set(configured) | {v.label_dict.get("source", "") for v in data.latest(metric)})
    if not names:
        not_configured(what, f"sources: - kind: {kind}", example)
        return None
    source = (choice("Source", names, "source") if len(names) > 1 else None) or names[0]
    st.header(source)
    info = configured.get(source)
    st.caption(f"DSN `{info.dsn}`" if info else "not in the config (seen in the store)")
    up = data.latest("lagwatch_collector_up", collector=f"{kind}:{source}")
    if up and up[0].value < 1:
        st.error(
            f"Collector failing: {data.redact(up[0].note or 'no error text')}",
            icon=":material/power_off:",
        )
    return source


def connector_links(found: Mapping[str, tuple[str, str]], what: str) -> None:
    """Link each slot or binlog reader a Debezium connector owns to its Connect page."""
    for name, (cluster, connector) in sorted(found.items()):
        st.page_link(
            "views/connect.py",
            label=f"{what} {name} is read by connector {connector} on {cluster}: Connect page →",
            query_params={"cluster": cluster, "connector": connector},
        )
