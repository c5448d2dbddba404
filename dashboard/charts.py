"""Plotly figures the pages share: time series with thresholds, and the probe waterfall."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import plotly.graph_objects as go

from lagwatch.dashboard import fmt
from lagwatch.dashboard.records import Trace
from lagwatch.store import Series

# Above this many points in one figure, WebGL draws faster than SVG.
WEBGL_POINTS = 5000
HEIGHT = 280

AXIS = {
    "seconds": {"ticksuffix": "s", "tickformat": "~s"},
    "bytes": {"ticksuffix": "B", "tickformat": "~s"},
    "bytes/s": {"ticksuffix": "B/s", "tickformat": "~s"},
    "messages": {"tickformat": "~s"},
    "rows": {"tickformat": "~s"},
    "rows/s": {"ticksuffix": "/s", "tickformat": "~s"},
    "": {"tickformat": "~s"},
}
HOVER = {
    "seconds": "%{y:.3~s}s",
    "bytes": "%{y:.3~s}B",
    "bytes/s": "%{y:.3~s}B/s",
    "rows/s": "%{y:.3~s}/s",
}


# Seconds read better in the largest unit that keeps numbers small.
TIME_UNITS = [(120.0, 1.0, "s"), (7200.0, 60.0, "min"), (172800.0, 3600.0, "h")]


def _time_scale(series: Sequence[Series]) -> tuple[float, str]:
    top = max((abs(v) for s in series for _, v in s.points), default=0.0)
    for below, divisor, suffix in TIME_UNITS:
        if top < below:
            return divisor, suffix
    return 86400.0, "d"


def _layout(fig: go.Figure, title: str, unit: str, height: int) -> go.Figure:
    fig.update_layout(
        title={"text": title, "font": {"size": 14}},
        height=height,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        legend={"orientation": "h", "y": -0.15},
        hovermode="x unified",
        uirevision="keep",  # keep zoom and hidden traces across auto-refreshes
    )
    fig.update_yaxes(rangemode="tozero", **AXIS.get(unit, AXIS[""]))
    return fig


def timeseries(
    series: Sequence[Series],
    title: str,
    unit: str,
    name: Callable[[Series], str],
    thresholds: Sequence[tuple[float, str]] = (),
    height: int = HEIGHT,
    step: bool = False,
    zero: bool = True,
) -> go.Figure:
    """Return a line chart of ``series`` (epoch seconds on x), with dashed threshold lines."""
    total = sum(len(s.points) for s in series)
    trace = go.Scattergl if total > WEBGL_POINTS else go.Scatter
    fig = go.Figure()
    hover = HOVER.get(unit, "%{y:,.4~g}")
    divisor = 1.0
    if unit == "seconds":
        divisor, suffix = _time_scale(series)
        hover = f"%{{y:,.3~f}} {suffix}"
    for s in series:
        fig.add_trace(
            trace(
                # Epoch milliseconds on a date axis: a third of the bytes of ISO strings.
                x=[ts * 1000 for ts, _ in s.points],
                y=[v / divisor for _, v in s.points],
                name=name(s),
                mode="lines",
                line={"shape": "hv" if step else "linear", "width": 1.6},
                hovertemplate=f"{hover}<extra>%{{fullData.name}}</extra>",
            )
        )
    for value, label in thresholds:
        fig.add_hline(
            y=value / divisor,
            line={"dash": "dash", "color": "#d62728", "width": 1},
            annotation_text=label,
            annotation_position="top left",
        )
    fig = _layout(fig, title, unit, height)
    fig.update_xaxes(type="date")
    if not zero:
        fig.update_yaxes(rangemode="normal")
    if unit == "seconds":
        fig.update_yaxes(ticksuffix=f" {suffix}", tickformat="~r")
    return fig


def sparkline(values: Sequence[float], height: int = 48) -> str:
    """Return an SVG area sparkline of ``values`` (oldest first), scaled to its own range.

    Drawn by the browser itself: a tile's trend needs no chart library loaded.
    """
    if len(values) < 2:
        return ""
    lo, hi = min(min(values), 0.0), max(values)
    span = (hi - lo) or 1.0
    step = 100.0 / (len(values) - 1)
    points = " ".join(
        f"{i * step:.2f},{height - 1 - (v - lo) / span * (height - 2):.2f}"
        for i, v in enumerate(values)
    )
    return (
        f'<svg width="100%" height="{height}" viewBox="0 0 100 {height}" '
        'preserveAspectRatio="none" role="img" aria-label="trend">'
        f'<polygon points="0,{height} {points} 100,{height}" fill="rgba(91,103,112,0.12)"/>'
        f'<polyline points="{points}" fill="none" stroke="#5b6770" stroke-width="1.5" '
        'vector-effect="non-scaling-stroke"/></svg>'
    )


def waterfall(trace: Trace, height: int = 60) -> go.Figure:
    """Return one probe as horizontal bars: each hop from the commit to when it saw the probe."""
    fig = go.Figure()
    spans = sorted(trace.spans, key=lambda s: (s.end is None, (s.end or 0) - s.start))
    longest = max(((s.end or s.start) - trace.start for s in spans), default=0.0) or 0.001
    for span in spans:
        offset = (span.start - trace.start) * 1000
        if span.end is None:
            width, colour, text = longest * 1000 - offset, "#d62728", "lost"
        else:
            width = max((span.end - span.start) * 1000, 0.01)
            colour, text = "#1f77b4", fmt.duration(span.end - trace.start)
        fig.add_trace(
            go.Bar(
                y=[span.hop],
                x=[width],
                base=[offset],
                orientation="h",
                marker={"color": colour},
                text=[text],
                textposition="auto",
                hovertemplate=f"{span.hop}: {text}<extra></extra>",
                showlegend=False,
            )
        )
    fig.update_layout(
        height=height + 28 * len(spans),
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        barmode="overlay",
        xaxis={"title": "ms since commit", "rangemode": "tozero"},
        yaxis={"autorange": "reversed"},
    )
    return fig
