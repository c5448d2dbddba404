"""What `lagwatch demo` builds: its names, and the config files it writes.

The demo's CDC is Debezium on the devstack's Kafka Connect (``--cdc debezium``,
the default: a connector registered per run, see ``debezium.py``) or
lagwatch's own relay (``--cdc relay``). Its configs, in the demo directory:

- ``lagwatch.yaml``: the daemon that watches (collectors, probe, alerts) and
  the dashboard that reads its store; with Debezium it reads the Connect
  worker too (``connect:``) and the probe times the Debezium hop;
- ``relay.yaml`` (``--cdc relay`` only): `lagwatch tap` in relay mode, standing
  in for Debezium: it streams the orders table and the probe rows from
  PostgreSQL to the Kafka topic.

DSNs come from the devstack's settings and go into ``secrets/`` beside the
configs (mode 0600), never into the YAML.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

ROOT = Path(__file__).resolve().parent.parent
SUFFIX = re.compile(r"^[a-z0-9]{1,16}$")

SECRETS = {
    "pg_dsn": "LAGWATCH_PG_MONITOR_DSN",
    "mysql_dsn": "LAGWATCH_MYSQL_MONITOR_DSN",
    "probe_dsn": "LAGWATCH_PG_PROBE_DSN",
}


@dataclass(frozen=True)
class DemoNames:
    """Every name the demo creates; a suffix makes them unique (a test beside a running demo).

    ``run`` (Debezium only) makes the connector, its slot, topic prefix and the topic unique
    to one run: the Connect worker is shared, and a connector's offsets outlive it.
    """

    suffix: str = ""
    run: str = ""

    def _with(self, base: str, sep: str) -> str:
        return f"{base}{sep}{self.suffix}" if self.suffix else base

    @property
    def schema(self) -> str:
        return self._with("demo", "_")

    @property
    def table(self) -> str:
        return f"{self.schema}.orders"

    @property
    def topic(self) -> str:
        return f"{self.schema}.orders" + (f".{self.run}" if self.run else "")

    @property
    def connector(self) -> str:
        """The Debezium connector (``--cdc debezium``)."""
        return f"{self._with('demo-orders-cdc', '-')}-{self.run}"

    @property
    def slot(self) -> str:
        """The Debezium connector's replication slot."""
        return f"{self.schema}_{self.run}"

    @property
    def server(self) -> str:
        """The Debezium connector's ``topic.prefix`` (its events are routed to ``topic``)."""
        return f"{self.schema.replace('_', '')}{self.run}"

    @property
    def pipeline(self) -> str:
        return self._with("demo-orders", "-")

    @property
    def indexer(self) -> str:
        """The group that keeps up."""
        return self._with("search-indexer", "-")

    @property
    def scorer(self) -> str:
        """The group that stalls."""
        return self._with("fraud-scorer", "-")

    @property
    def publication(self) -> str:
        return f"{self.schema}_cdc"


@dataclass(frozen=True)
class DemoPorts:
    """Where the demo's dashboard and /metrics listen (0: off)."""

    dashboard: int = 8501
    metrics: int = 9465


DAEMON = Template("""\
# Written by `lagwatch demo` on every run from the devstack's settings
# (devstack/env); the DSNs are in secrets/ beside this file.
# Watch it: `lagwatch snapshot -c $config`, the dashboard, and
# `tail -f $notifications`.
store:
  url: sqlite:///$store
sources:
  - name: demo-pg
    kind: postgres
    dsn_file: secrets/pg_dsn          # lagwatch_monitor: pg_monitor only
    interval: 5s
  - name: demo-mariadb
    kind: mysql
    dsn_file: secrets/mysql_dsn       # lagwatch_monitor: binlog monitor
    interval: 5s
kafka:
  - name: demo
    bootstrap: "$kafka"
    interval: 5s
    groups:
      include: ['$indexer_re', '$scorer_re']
$cdc_sections
alerts:
  receivers:
    - name: demo-log
      log:
        path: $notifications
  group_interval: 15s                 # the demo is short: tell changes sooner than the 1m default
  flap: {changes: 8}                  # its two incidents fire the same hop's alerts minutes apart
  dashboard_url: "http://127.0.0.1:$dashboard_port"
  rules:
    - name: PipelineHopStale
      expr: lagwatch_probe_hop_freshness_seconds{hop=~"group:.*"} > 30s
      severity: page
      annotations:
        summary: "Pipeline {{ $$labels.pipeline }}: {{ $$labels.hop }} is {{ $$value | duration }} behind"
        evidence: "no probe through {{ $$labels.hop }} for {{ $$value | duration }}"
        description: "No probe has passed this consumer group for {{ $$value | duration }}; the hops before it are fresh."
        dashboard_url: "{{ $$dashboard }}/pipeline?pipeline={{ $$labels.pipeline }}"
dashboard:
  host: 127.0.0.1
  port: $dashboard_port
daemon:
  metrics_listen: $metrics
  log_level: WARNING
""")

# The pipeline and probe sections, by CDC.
DEBEZIUM_SECTIONS = Template("""\
connect:
  - name: cdc
    url: "$connect_url"
    interval: 5s
    connectors:
      include: ['$connector_re']      # the worker is shared: watch the demo's connector only
    links:
      $connector: demo-pg             # its source; ties it to the pipeline below
pipelines:
  - name: $pipeline
    source: demo-pg                   # its CDC is Debezium: connector $connector on cdc
    slot: $slot
    topic: $topic
    groups: [$indexer, $scorer]
    slo:
      freshness: 5s
      objective: 99
probes:
  - pipeline: $pipeline
    dsn_file: secrets/probe_dsn       # lagwatch_probe: writes lagwatch.probe
    interval: 1s
    timeout: 15s
    debezium: true                    # the debezium hop, timed from each event's envelope
    tap:
      enabled: false                  # Debezium reads the WAL, lagwatch does not
      publication: $publication""")

RELAY_SECTIONS = Template("""\
pipelines:
  - name: $pipeline
    source: demo-pg                   # its CDC is the relay (relay.yaml): a temporary slot
    topic: $topic
    groups: [$indexer, $scorer]
    slo:
      freshness: 5s
      objective: 99
probes:
  - pipeline: $pipeline
    dsn_file: secrets/probe_dsn       # lagwatch_probe: writes lagwatch.probe, streams WAL
    interval: 1s
    timeout: 15s
    tap:
      publication: $publication      # lagwatch's own tap times commit → WAL; relay.yaml publishes""")

RELAY = Template("""\
# Written by `lagwatch demo`: the demo pipeline's CDC, run as
# `lagwatch tap --pipeline $pipeline -c $config`. It streams $table and the
# probe rows from PostgreSQL (a temporary slot) and publishes them to $topic.
store:
  url: sqlite:///$store
sources:
  - name: demo-pg
    kind: postgres
    dsn_file: secrets/pg_dsn
kafka:
  - name: demo
    bootstrap: "$kafka"
pipelines:
  - name: $pipeline
    source: demo-pg
    topic: $topic
    slo:
      freshness: 5s
probes:
  - pipeline: $pipeline
    dsn_file: secrets/probe_dsn
    tap:
      name: $pipeline-relay
      publication: $publication
      relay: true
      tables: [$table]
daemon:
  log_level: WARNING
""")


def write_configs(
    directory: Path, env: dict[str, str], names: DemoNames, ports: DemoPorts, cdc: str = "debezium"
) -> tuple[Path, Path | None]:
    """Write the secrets, the daemon's config and (``cdc="relay"``) the relay's config; return
    their paths (no relay config: None)."""
    secrets = directory / "secrets"
    secrets.mkdir(parents=True, exist_ok=True)
    secrets.chmod(0o700)
    for name, key in SECRETS.items():
        (secrets / name).write_text(env[key] + "\n")
        (secrets / name).chmod(0o600)
    daemon, relay = directory / "lagwatch.yaml", directory / "relay.yaml"
    values = {
        "store": directory / "lagwatch.db",
        "kafka": env["LAGWATCH_KAFKA_BOOTSTRAP"],
        "pipeline": names.pipeline,
        "table": names.table,
        "topic": names.topic,
        "indexer": names.indexer,
        "scorer": names.scorer,
        "indexer_re": re.escape(names.indexer),
        "scorer_re": re.escape(names.scorer),
        "publication": names.publication,
        "notifications": notifications_path(directory),
        "dashboard_port": ports.dashboard,
        "metrics": f"127.0.0.1:{ports.metrics}" if ports.metrics else "null",
    }
    if cdc == "relay":
        sections = RELAY_SECTIONS.substitute(values)
        relay.write_text(RELAY.substitute(values, config=relay))
    else:
        relay.unlink(missing_ok=True)
        sections = DEBEZIUM_SECTIONS.substitute(
            values,
            connect_url=env["LAGWATCH_CONNECT_URL"],
            connector=names.connector,
            connector_re=re.escape(names.connector),
            slot=names.slot,
        )
    daemon.write_text(DAEMON.substitute(values, config=daemon, cdc_sections=sections))
    return daemon, relay if cdc == "relay" else None


def notifications_path(directory: Path) -> Path:
    """Return the file the demo's log receiver appends alert notifications to."""
    return directory / "notifications.log"
