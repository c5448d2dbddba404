"""The dashboard's only access to the config and the store: read-only, cached, parameterised.

Pages call the functions here and never open the store themselves. Every
query goes through ``st.cache_data`` with a short TTL, keyed by the config
path so two configs in one process (tests) never share results. Ranges are
downsampled by the store itself (``max_points``), never in the page.

The alert engine keeps its state as store records: they are read and
silences written with the engine's own definitions (``alerts.state``,
``alerts.history``, ``alerts.silences``), so both always agree. The probe's
traces are read as ``dashboard/records.py`` describes. The capacity items
are the ones ``lagwatch report capacity`` prints (``reports.capacity``).
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import streamlit as st

from lagwatch.alerts import silences as alert_silences
from lagwatch.alerts.history import NAMESPACE as ALERT_HISTORY
from lagwatch.alerts.history import Change
from lagwatch.alerts.incidents import NAMESPACE as ALERT_INCIDENTS
from lagwatch.alerts.incidents import Incident
from lagwatch.alerts.silences import Silence, add_silence, list_silences
from lagwatch.alerts.state import FIRING, PENDING, RESOLVED, AlertState
from lagwatch.alerts.state import NAMESPACE as ALERT_STATES
from lagwatch.config import LagwatchConfig, load
from lagwatch.dashboard import records
from lagwatch.logs import Redactor
from lagwatch.reports.capacity import Item, capacity_report
from lagwatch.reports.catalog import build_catalog, registry_summary
from lagwatch.store import LatestValue, Record, Series, Store, StoreUnavailable, open_store
from lagwatch.store.protocol import Aggregation

CONFIG_ENV = "LAGWATCH_CONFIG"
TTL = 5.0
# Range ends are rounded up to this, so renders within one bucket share cached results.
BUCKET = 5.0
# Points per series a chart gets: about one per two pixels of a full-width chart.
MAX_POINTS = 720
MASK = "***"


# -- config --------------------------------------------------------------------


def config_path() -> str:
    """Return the config file this dashboard was started with."""
    args = sys.argv[1:]
    if "--config" in args and args.index("--config") + 1 < len(args):
        return args[args.index("--config") + 1]
    return os.environ.get(CONFIG_ENV, "lagwatch.yaml")


@st.cache_resource(show_spinner=False)
def _config(path: str, mtime: float) -> LagwatchConfig:
    return load(path)


def config() -> LagwatchConfig:
    """Return the loaded config (reloaded when the file changes); raises ConfigError."""
    path = config_path()
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        mtime = 0.0
    return _config(path, mtime)


def redact(text: str) -> str:
    """Return ``text`` with every configured secret masked."""
    return Redactor(config().secrets())(text)


def mask_dsn(dsn: str) -> str:
    """Return a DSN with its password replaced by ***, URL or key=value form."""
    try:
        url = urlsplit(dsn)
    except ValueError:
        url = None
    if url is not None and url.scheme and url.password is not None:
        host = url.hostname or ""
        if url.port:
            host = f"{host}:{url.port}"
        user = url.username or ""
        return urlunsplit((url.scheme, f"{user}:{MASK}@{host}", url.path, url.query, ""))
    return re.sub(r"(password\s*=\s*)('[^']*'|\S+)", rf"\1{MASK}", dsn, flags=re.IGNORECASE)


@dataclass(frozen=True)
class SourceInfo:
    """A configured source as the UI may show it: name, kind, masked DSN, the config item."""

    name: str
    kind: str
    dsn: str
    interval: float
    item: Any


def sources(kind: str) -> list[SourceInfo]:
    """Return the configured sources of one kind (postgres, mysql), DSNs masked."""
    out = []
    for item in config().sources:
        if getattr(item, "kind", None) != kind:
            continue
        secret = getattr(item, "dsn", None)
        dsn = mask_dsn(secret.get_secret_value()) if secret is not None else ""
        out.append(SourceInfo(item.name, kind, dsn, float(item.interval), item))
    return out


def kafka_clusters() -> list[Any]:
    """Return the configured Kafka clusters."""
    return list(config().kafka)


@dataclass(frozen=True)
class PipelineInfo:
    """A pipeline: configured (``pipelines:``) or only seen in the store's series."""

    name: str
    configured: bool
    slo_seconds: float | None = None
    objective: float | None = None
    source: str | None = None
    topic: str | None = None
    groups: tuple[str, ...] = ()
    connect: str | None = None
    """The Connect cluster of the Debezium connector reading the source (`reader:`)."""
    connector: str | None = None


def _pipeline_from_config(item: Any) -> PipelineInfo:
    slo = getattr(item, "slo", None)
    freshness = getattr(slo, "freshness", None)
    objective = getattr(slo, "objective", None)
    ref = getattr(item, "connector", None)
    return PipelineInfo(
        name=str(item.name),
        configured=True,
        slo_seconds=float(freshness) if freshness is not None else None,
        objective=float(objective) if objective is not None else None,
        source=getattr(item, "source", None),
        topic=getattr(item, "topic", None),
        groups=tuple(getattr(item, "groups", ()) or ()),
        connect=getattr(ref, "connect", None),
        connector=getattr(ref, "connector", None),
    )


def connectors_of(source: str) -> dict[str, tuple[str, str]]:
    """Return slot or binlog reader → (Connect cluster, connector) for one source.

    A slot belongs to the connector the Connect collector linked to it
    (``lagwatch_debezium_source_linked``); a binlog reader to the connector its
    ``readers:`` entry (or a pipeline's ``reader:``) names.
    """
    found: dict[str, tuple[str, str]] = {}
    for v in latest("lagwatch_debezium_source_linked", source=source):
        labels = v.label_dict
        if v.value == 1 and labels.get("slot"):
            found[labels["slot"]] = (labels.get("cluster", ""), labels.get("connector", ""))
    for item in config().sources:
        if item.name != source:
            continue
        for reader in getattr(item, "readers", None) or ():
            if getattr(reader, "connect", None) and getattr(reader, "connector", None):
                found[str(reader.name)] = (str(reader.connect), str(reader.connector))
    for pipe in getattr(config(), "pipelines", []):
        ref = getattr(pipe, "connector", None)
        slot = getattr(pipe, "slot", None)
        if ref is not None and pipe.source == source and slot:
            found.setdefault(str(slot), (ref.connect, ref.connector))
    return found


PIPELINE_SERIES = ("lagwatch_pipeline_freshness_seconds", "lagwatch_probe_latency_seconds")
SLO_SERIES = "lagwatch_pipeline_slo_threshold_seconds"
OBJECTIVE_SERIES = "lagwatch_pipeline_slo_objective_ratio"


def pipelines() -> list[PipelineInfo]:
    """Return every pipeline in the config, then those only the store knows, by name."""
    # `pipelines:` belongs to the probe's config section; read it loosely so
    # the dashboard works before and after that section exists.
    found = {p.name: p for p in map(_pipeline_from_config, getattr(config(), "pipelines", []))}
    # Without that section, the SLO the probe reports alongside freshness.
    slos = {v.label_dict.get("pipeline"): v.value for v in latest(SLO_SERIES)}
    goals = {v.label_dict.get("pipeline"): v.value * 100 for v in latest(OBJECTIVE_SERIES)}
    for name in PIPELINE_SERIES:
        for value in latest(name):
            pipeline = value.label_dict.get("pipeline")
            if pipeline and pipeline not in found:
                found[pipeline] = PipelineInfo(
                    pipeline, False, slos.get(pipeline), goals.get(pipeline)
                )
    return [found[name] for name in sorted(found)]


# -- the store -----------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def _store(path: str) -> Store:
    # One read-only store object shared by every session: SqlStore serialises
    # its connection behind an RLock and SQLite is opened with
    # check_same_thread=False, so concurrent sessions are safe.
    return open_store(config().store, read_only=True)


def store() -> Store:
    """Return the shared read-only store."""
    return _store(config_path())


def now() -> float:
    return time.time()


@dataclass(frozen=True)
class Window:
    """A time range [start, end] in epoch seconds, end rounded up to BUCKET."""

    start: float
    end: float

    @classmethod
    def last(cls, seconds: float, at: float | None = None) -> Window:
        end = -(-(at if at is not None else now()) // BUCKET) * BUCKET
        return cls(end - seconds, end)

    @property
    def seconds(self) -> float:
        return self.end - self.start


@st.cache_data(ttl=TTL, show_spinner=False)
def _latest(path: str, name: str | None) -> list[LatestValue]:
    return store().latest(name)


def latest(name: str, **matchers: str) -> list[LatestValue]:
    """Return the newest value of every series of ``name`` whose labels contain ``matchers``."""
    values = _latest(config_path(), name)
    if not matchers:
        return values
    return [v for v in values if all(v.label_dict.get(k) == m for k, m in matchers.items())]


def latest_by(name: str, *keys: str, **matchers: str) -> dict[tuple[str, ...], LatestValue]:
    """Return the newest values of ``name`` keyed by the given label values."""
    return {tuple(v.label_dict.get(k, "") for k in keys): v for v in latest(name, **matchers)}


def metric_names(prefix: str) -> list[str]:
    """Return the names of every series in the store that start with ``prefix``."""
    return sorted({v.name for v in _latest(config_path(), None) if v.name.startswith(prefix)})


@st.cache_data(ttl=TTL, show_spinner=False)
def _range(
    path: str,
    name: str,
    matchers: tuple[tuple[str, str], ...],
    start: float,
    end: float,
    agg: Aggregation,
    max_points: int,
) -> list[Series]:
    return store().query_range(
        name, dict(matchers) or None, start, end, agg=agg, max_points=max_points
    )


def series(
    name: str,
    window: Window,
    matchers: Mapping[str, str] | None = None,
    agg: Aggregation = "avg",
    max_points: int = MAX_POINTS,
) -> list[Series]:
    """Return each series of ``name`` over ``window``, at most ``max_points`` points each."""
    key = tuple(sorted((matchers or {}).items()))
    return _range(config_path(), name, key, window.start, window.end, agg, max_points)


@st.cache_data(ttl=TTL, show_spinner=False)
def _capacity(path: str, end: float, seconds: float) -> list[Item]:
    return capacity_report(store(), end, seconds)


def capacity(window: Window) -> list[Item]:
    """Return the capacity report's items fitted over ``window``, most urgent first."""
    return _capacity(config_path(), window.end, window.seconds)


@st.cache_data(ttl=TTL, show_spinner=False)
def _catalog(path: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    registries: list[Any] = list(config().registries)  # each has what RegistryEntry needs
    return build_catalog(store(), registries), registry_summary(store(), registries)


def catalog() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return the event catalog's entries (one per watched topic) and each registry's state."""
    return _catalog(config_path())


# -- records: the alert engine's own (state, history, silences) and probe traces --


@st.cache_data(ttl=TTL, show_spinner=False)
def _records(
    path: str, namespace: str, since: float | None, limit: int | None, newest_first: bool
) -> list[Record]:
    return store().list_records(namespace, since=since, limit=limit, newest_first=newest_first)


STATE_ORDER = {FIRING: 0, PENDING: 1, RESOLVED: 2}


def alerts() -> list[AlertState]:
    """Return every alert the engine tracks (firing, pending, recently resolved), in that order."""
    rows = _records(config_path(), ALERT_STATES, None, None, False)
    return sorted(
        (AlertState.from_json(r.body) for r in rows),
        key=lambda a: (STATE_ORDER.get(a.state, 9), -a.since),
    )


def incidents() -> list[Incident]:
    """Return the incidents the engine keeps (open ones first, then the newest)."""
    rows = _records(config_path(), ALERT_INCIDENTS, None, None, False)
    found = [Incident.from_json(r.body) for r in rows]
    return sorted(found, key=lambda i: (i.state != "open", -i.created_at))


def alert_history(window: Window, limit: int = 500) -> list[Change]:
    """Return the alerts' state changes in ``window``, newest first."""
    rows = _records(config_path(), ALERT_HISTORY, window.start, limit, True)
    return [Change.from_record(r) for r in rows]


def local_link(url: str) -> str:
    """Return an alert's dashboard link relative to this dashboard, so it opens wherever it runs."""
    base = config().alerts.dashboard_url.rstrip("/")
    return (url[len(base) :] or "/") if base and url.startswith(base) else url


@st.cache_data(ttl=TTL, show_spinner=False)
def _silences(path: str) -> list[Silence]:
    return list_silences(store(), now(), include_expired=True)


def silences() -> list[Silence]:
    """Return every silence the engine knows, active ones first."""
    at = now()
    return sorted(_silences(config_path()), key=lambda s: (not s.active(at), -s.starts_at))


def traces(pipeline: str, limit: int = 20) -> list[records.Trace]:
    """Return the newest probe traces of ``pipeline``."""
    rows = _records(config_path(), records.PROBE_TRACES, None, max(limit * 20, 500), True)
    found = [records.Trace.from_record(r) for r in rows]
    return [t for t in found if t.pipeline == pipeline][:limit]


def _on_writer(action: Callable[[Store], Silence]) -> Silence:
    # The dashboard's only writes: silences. A short-lived read-write store,
    # so the shared reader stays read-only.
    writer = open_store(config().store)
    try:
        return action(writer)
    finally:
        writer.close()
        _silences.clear()


def create_silence(matchers: list[str], comment: str, author: str, seconds: float) -> Silence:
    """Store a silence lasting ``seconds`` from now, as ``lagwatch silence add`` would."""
    at = now()
    return _on_writer(lambda w: add_silence(w, matchers, author, comment, at + seconds, at))


def expire_silence(silence_id: str) -> Silence:
    """End a silence now, as ``lagwatch silence expire`` would; it stays listed as expired."""
    return _on_writer(lambda w: alert_silences.expire_silence(w, silence_id, now()))


__all__ = ["StoreUnavailable"]
