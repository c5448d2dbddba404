"""Inhibition: a firing or pending source alert mutes target alerts that share its labels or origin."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from lagwatch.alerts.expr import Matcher, parse_matcher


class InhibitRule(BaseModel):
    """Mute ``target`` alerts while a ``source`` alert holds, when the ``equal`` labels agree.

    ``equal: [origin]`` compares what each alert depends on instead of one label:
    the source or cluster it names, and the source of every pipeline it belongs to.
    """

    model_config = ConfigDict(extra="forbid")

    source_match: dict[str, str] = {}
    source_match_re: dict[str, str] = {}
    target_match: dict[str, str] = {}
    target_match_re: dict[str, str] = {}
    equal: list[str] = []

    def _matchers(self, exact: dict[str, str], regex: dict[str, str]) -> list[Matcher]:
        out = [Matcher(k, "=", v) for k, v in exact.items()]
        return out + [parse_matcher(f"{k}=~{v}") for k, v in regex.items()]

    def compiled(self) -> Inhibition:
        return Inhibition(
            tuple(self._matchers(self.source_match, self.source_match_re)),
            tuple(self._matchers(self.target_match, self.target_match_re)),
            tuple(self.equal),
        )


DEFAULT_INHIBIT = [
    # A collector that is down (or about to be declared down) speaks for everything
    # read through it: its per-series no-data alerts and the lag of its pipelines.
    InhibitRule(source_match={"alertname": "CollectorDown"}, equal=["origin"]),
    # The worse state of one thing already says what the lesser one would:
    # a stopped group lags, a lost or unreserved slot has no time left, a lost
    # binlog reader is past its purge time.
    InhibitRule(
        source_match_re={"alertname": "KafkaGroupStopped|KafkaGroupStalled"},
        target_match={"alertname": "KafkaGroupLagHigh"},
        equal=["cluster", "group"],
    ),
    InhibitRule(
        source_match_re={"alertname": "PgSlotLost|PgSlotUnreserved"},
        target_match={"alertname": "PgSlotTimeToLossShort"},
        equal=["source", "slot"],
    ),
    # A registry that cannot be read says why its checks stopped: its violation and
    # governance alerts wait for it.
    InhibitRule(
        source_match={"alertname": "RegistryDown"},
        target_match_re={
            "alertname": "RegistryBypassed|UnknownSchemaId|WrongSubject|InvalidPayloads"
            "|OversizedPayloads|SubjectCompatibilityNone|IncompatibleSchemaRegistered|SubjectDeleted"
        },
        equal=["registry"],
    ),
    # A Connect cluster that cannot be read says why its connectors' alerts are held back.
    InhibitRule(
        source_match={"alertname": "ConnectWorkerDown"},
        target_match_re={"alertname": "Connector.*|Debezium.*"},
        equal=["cluster"],
    ),
    # ... and, for the pipelines whose reader runs on it (`pipelines[].reader: {connect: …}`),
    # the slot without a reader, the binlog reader behind, the lag and freshness downstream:
    # one page says the worker is down, not one per symptom.
    InhibitRule(
        source_match={"alertname": "ConnectWorkerDown"},
        target_match_re={"alertname": "PgSlot.*|MysqlBinlog.*|KafkaGroup.*|Pipeline.*|Probe.*"},
        equal=["origin"],
    ),
    # A CDC reader that is not reading is the root of what its source and pipelines show:
    # the slot without a reader, the binlog reader behind, the lag and freshness downstream,
    # and its own connector's FAILED states (one page names the connector and the failure).
    InhibitRule(
        source_match={"alertname": "DebeziumReaderStuck"},
        target_match_re={
            "alertname": "PgSlot.*|MysqlBinlog.*|KafkaGroup.*|Pipeline.*|Probe.*|DebeziumSourceLagHigh"
        },
        equal=["origin"],
    ),
    InhibitRule(
        source_match={"alertname": "DebeziumReaderStuck"},
        target_match_re={
            "alertname": "ConnectorFailed|ConnectorTaskFailed|ConnectorTaskRestarting"
        },
        equal=["cluster", "connector"],
    ),
    InhibitRule(
        source_match={"alertname": "MysqlBinlogReaderLost"},
        target_match={"alertname": "MysqlBinlogPurgeSoon"},
        equal=["source", "reader"],
    ),
]


@dataclass(frozen=True)
class Candidate:
    """What inhibition needs of one alert."""

    fingerprint: str
    labels: Mapping[str, str]
    origins: frozenset[str]


@dataclass(frozen=True)
class Inhibition:
    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...]

    def mutes(self, source: Candidate, target: Candidate) -> bool:
        if source.fingerprint == target.fingerprint:
            return False
        if not all(m.matches(source.labels) for m in self.source):
            return False
        if not all(m.matches(target.labels) for m in self.target):
            return False
        if all(m.matches(target.labels) for m in self.source) and all(
            m.matches(source.labels) for m in self.target
        ):
            return (
                False  # alerts on both sides never mute each other (two collectors of one source)
            )
        for name in self.equal:
            if name == "origin":
                if not source.origins & target.origins:
                    return False
            elif source.labels.get(name, "") != target.labels.get(name, ""):
                return False
        return True


def inhibited(
    rules: Sequence[Inhibition], sources: Sequence[Candidate], target: Candidate
) -> str | None:
    """Return the fingerprint of the alert that mutes ``target``, if any."""
    for rule in rules:
        for source in sources:
            if rule.mutes(source, target):
                return source.fingerprint
    return None
