"""Incidents: alerts tied to the same pipeline hop or source are one incident, told as one.

Where an alert is comes from its labels and the pipelines of the config
(``Topology.hops``: source → slot/reader/connector → the probe's tap → topic →
groups → the pipeline's end). Two alerts belong together when they are at the
same hop or one is upstream of the other on a pipeline; two consumer groups
side by side are not. A firing alert joins the open incident it is related to
(the one with the most upstream root, then the oldest) or starts one, and stays
in it until it resolves.

The root is the most upstream hop among the firing members; at the same hop,
the rule that comes first in ``root_order`` (then rules not listed, then the
lagging indicators in ``symptoms``), then the one that fired first. The
incident resolves when no member that is not a symptom still fires: symptoms
(probes lost over 5 minutes, SLO burn over its windows) lag behind the recovery
by design, so they are held in the resolved incident instead of paging again,
until they clear or ``hold_symptoms_for`` has passed. An incident of symptoms
only resolves when they all do.

This module only decides; the engine persists incidents as ``alerts.incidents``
records in the same write as the alert states and the notifications.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from lagwatch.alerts.state import FIRING, AlertState
from lagwatch.alerts.topology import Hop, Topology
from lagwatch.store import Record
from lagwatch.store.contracts import Namespace

NAMESPACE = Namespace.ALERTS_INCIDENTS
OPEN, RESOLVED = "open", "resolved"
# A member's state: firing, resolved, held (a symptom still firing after its incident
# resolved), released (held too long: free to start an incident of its own), moved (its
# incident was merged into another, which tells it from then on).
GONE, HELD, RELEASED, MOVED = "resolved", "held", "released", "moved"

# At the same hop, the first of these is the root: what lagwatch cannot see, then data
# that is lost or about to be, then the verdict on the hop itself, then its lesser states.
ROOT_ORDER = (
    "CollectorDown",
    "CollectorSilent",
    "PgSlotLost",
    "MysqlBinlogReaderLost",
    "PgSlotUnreserved",
    "PgSlotTimeToLossShort",
    "MysqlBinlogPurgeSoon",
    # The CDC reader's own verdicts come before what its slot, reader and groups show.
    "ConnectWorkerDown",
    "ConnectorFailed",
    "ConnectorTaskFailed",
    "DebeziumReaderStuck",
    "KafkaGroupStopped",
    "KafkaGroupStalled",
    "KafkaGroupError",
    "PgSlotInactive",
    "MysqlBinlogFormatNotRow",
    "OutboxOldestRowTooOld",
    "ConnectorPausedTooLong",
    "ConnectorTaskRestarting",
    "DebeziumSlotPinned",
    "DebeziumSourceLagHigh",
    "KafkaGroupLagHigh",
)
# Indicators computed over windows: they trail the recovery, so they never hold an
# incident open once a cause has resolved, and come last as a root.
SYMPTOMS = ("ProbeLost", "PipelineSLOBurn")
# Resolved incidents stay a day for the dashboard (their alerts' history stays longer).
KEEP_RESOLVED = 86400.0


@dataclass(frozen=True)
class IncidentPolicy:
    """The root order, the lagging indicators, and how long those are held after a resolve."""

    root_order: tuple[str, ...] = ROOT_ORDER
    symptoms: tuple[str, ...] = SYMPTOMS
    hold_symptoms_for: float = 1800.0

    def rank(self, rule: str) -> int:
        """Return where ``rule`` comes in the root order (lower: more likely the root)."""
        if rule in self.symptoms:
            return len(self.root_order) + 1 + self.symptoms.index(rule)
        if rule in self.root_order:
            return self.root_order.index(rule)
        return len(self.root_order)


@dataclass
class Member:
    """One alert of an incident, as the incident remembers it."""

    fingerprint: str
    rule: str
    labels: dict[str, str]
    hop: str
    hop_label: str
    depth: int
    state: str
    symptom: bool
    joined_at: float
    since: float
    muted: str | None = None
    evidence: str = ""
    resolved_at: float | None = None


@dataclass
class Incident:
    """Alerts at one place of the pipelines, with its root and what each member says."""

    id: str
    created_at: float
    state: str = OPEN
    root: str = ""
    root_rule: str = ""
    root_hop: str = ""
    root_hop_id: str = ""
    pipelines: list[str] = field(default_factory=list)
    members: dict[str, Member] = field(default_factory=dict)
    had_cause: bool = False
    headline: str = ""
    resolved_at: float | None = None
    merged_into: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Incident:
        known = {k: v for k, v in body.items() if k in cls.__dataclass_fields__}
        fields = Member.__dataclass_fields__
        known["members"] = {
            fp: Member(**{k: v for k, v in m.items() if k in fields})
            for fp, m in (known.get("members") or {}).items()
        }
        return cls(**known)

    def to_record(self, now: float) -> Record:
        return Record(NAMESPACE, self.id, now, self.to_json())

    def in_state(self, *states: str) -> list[Member]:
        return [m for m in self.members.values() if m.state in states]

    def snapshot(self, policy: IncidentPolicy) -> dict[str, Any]:
        """Return what a notification carries of the incident (every member, root first)."""
        ordered = sorted(self.members.values(), key=lambda m: _order(m, policy))
        return {
            "id": self.id,
            "state": self.state,
            "root": {
                "fingerprint": self.root,
                "alert": self.root_rule,
                "hop": self.root_hop,
            },
            "pipelines": list(self.pipelines),
            "headline": self.headline,
            "created_at": self.created_at,
            "resolved_at": self.resolved_at,
            "merged_into": self.merged_into,
            "members": [
                {
                    "fingerprint": m.fingerprint,
                    "alert": m.rule,
                    "labels": m.labels,
                    "hop": m.hop_label,
                    "state": m.state,
                    "symptom": m.symptom,
                    "muted": m.muted,
                    "evidence": m.evidence,
                    "since": m.since,
                    "resolved_at": m.resolved_at,
                }
                for m in ordered
                if m.state != RELEASED
            ],
        }


def _order(m: Member, policy: IncidentPolicy) -> tuple[object, ...]:
    """Firing members first, then by the root order."""
    live = 0 if m.state == FIRING else 1 if m.state == HELD else 2
    return (live, m.depth, policy.rank(m.rule), m.since, m.fingerprint)


def root_key(m: Member, policy: IncidentPolicy) -> tuple[object, ...]:
    """Return the sort key that picks the root: most upstream, then the root order, then first."""
    return (m.depth, policy.rank(m.rule), m.since, m.fingerprint)


def _evidence_of(state: AlertState, a: Mapping[str, str] | None = None) -> str:
    """Return the short phrase an alert adds to its incident's headline."""
    a = state.annotations if a is None else a
    text = a.get("evidence") or a.get("summary") or f"{state.rule} {_where(state.labels)}"
    return text.strip().rstrip(":;,— ").strip()


def _where(labels: Mapping[str, str]) -> str:
    return " ".join(
        f"{k}={v}" for k, v in sorted(labels.items()) if k not in ("alertname", "severity")
    )


class Incidents:
    """The incidents the engine keeps; ``update`` assigns firing alerts and picks roots."""

    def __init__(self, topology: Topology, policy: IncidentPolicy | None = None) -> None:
        self.topology = topology
        self.policy = policy or IncidentPolicy()
        self.all: dict[str, Incident] = {}
        self._hops: dict[str, tuple[Hop, ...]] = {}
        self._on: dict[str, bool] = {}
        self._of: dict[str, str] = {}  # fingerprint → the incident it is told in (open or held)
        self._annotations: Callable[[AlertState], Mapping[str, str]] | None = None

    def load(self, records: Iterable[Record]) -> None:
        self.all = {r.key: Incident.from_json(r.body) for r in records}
        self._index()

    def _index(self) -> None:
        self._of = {}
        for inc in self.all.values():
            for fp, m in inc.members.items():
                if (inc.state == OPEN and m.state == FIRING) or m.state == HELD:
                    self._of[fp] = inc.id

    def use(self, topology: Topology) -> None:
        """Judge with ``topology`` from now on (the engine's may be replaced after it is built)."""
        if topology is not self.topology:
            self.topology = topology
            self._hops.clear()
            self._on.clear()

    # -- what the engine asks --------------------------------------------------

    def open_incident_of(self, fp: str) -> Incident | None:
        """Return the open incident ``fp`` is told in, or None."""
        inc = self.all.get(self._of.get(fp, ""))
        if inc is None or inc.state != OPEN:
            return None
        return inc

    def held(self, fp: str) -> bool:
        """Return whether ``fp`` is a symptom held by an incident that resolved (not told)."""
        inc = self.all.get(self._of.get(fp, ""))
        return inc is not None and inc.state == RESOLVED

    def hops(self, fp: str, labels: Mapping[str, str]) -> tuple[Hop, ...]:
        found = self._hops.get(fp)
        if found is None:
            if len(self._hops) > 100_000:  # alerts come and go: keep the cache bounded
                self._hops.clear()
                self._on.clear()
            found = self._hops[fp] = self.topology.hops(labels)
            self._on[fp] = bool(found) and self.topology.on_pipelines(found)
        return found

    # -- one evaluation --------------------------------------------------------

    def update(
        self,
        states: Mapping[str, AlertState],
        now: float,
        freshness: Callable[[str], str | None] = lambda pipeline: None,
        annotations: Callable[[AlertState], Mapping[str, str]] | None = None,
    ) -> tuple[set[str], list[str]]:
        """Assign firing alerts to incidents, pick roots, resolve; return (changed, forgotten).

        ``annotations`` renders an alert's annotations as of now (default: as stored), for
        the evidence each member adds to the headline; ``freshness`` says how far a
        pipeline is over its SLO, if it is.
        """
        policy = self.policy
        self._annotations = annotations
        changed: set[str] = set()
        for inc in self.all.values():
            if self._refresh(inc, states, now):
                changed.add(inc.id)
        self._index()
        assigned = set(self._of)
        # Firing alerts not in an incident yet, most upstream first (they may start one).
        waiting = []
        for fp, s in states.items():
            if s.state != FIRING or fp in assigned:
                continue
            hops = self.hops(fp, s.labels)
            if hops and self._on[fp]:
                waiting.append(self._member(s, hops, now))
        waiting.sort(key=lambda m: root_key(m, policy))
        for m in waiting:
            self._join(m, changed, create=True, now=now)
        # A held symptom that an incident opening now is about moves there.
        for inc in [i for i in self.all.values() if i.state == RESOLVED]:
            for fp, m in list(inc.members.items()):
                if m.state == HELD and self._join(m, changed, create=False, now=now):
                    held = replace(m, state=MOVED)
                    inc.members[fp] = held
                    changed.add(inc.id)
        for inc in self.all.values():
            if inc.state == OPEN and self._settle(inc, now, freshness):
                changed.add(inc.id)
        forgotten = [
            inc.id
            for inc in self.all.values()
            if inc.state == RESOLVED
            and not inc.in_state(HELD)
            and inc.resolved_at is not None
            and now - inc.resolved_at > KEEP_RESOLVED
        ]
        for key in forgotten:
            del self.all[key]
        self._index()
        return changed - set(forgotten), forgotten

    def _member(self, s: AlertState, hops: tuple[Hop, ...], now: float) -> Member:
        top = min(hops, key=lambda h: (h.depth, h.id))
        return Member(
            fingerprint=s.fingerprint,
            rule=s.rule,
            labels=dict(s.labels),
            hop=top.id,
            hop_label=top.label,
            depth=top.depth,
            state=FIRING,
            symptom=s.rule in self.policy.symptoms,
            joined_at=now,
            since=s.fired_at if s.fired_at is not None else s.active_since,
            muted=s.muted,
            evidence=self._evidence(s),
        )

    def _evidence(self, s: AlertState) -> str:
        render = self._annotations
        return _evidence_of(s, render(s) if render is not None else None)

    def _refresh(self, inc: Incident, states: Mapping[str, AlertState], now: float) -> bool:
        """Bring members up to date with their alerts; return whether the incident changed."""
        changed = False
        for fp, m in inc.members.items():
            s = states.get(fp)
            firing = s is not None and s.state == FIRING
            if m.state in (FIRING, HELD) and not firing:
                m.state = GONE
                m.resolved_at = s.resolved_at if s is not None and s.resolved_at else now
                changed = True
            elif m.state == GONE and firing and inc.state == OPEN:
                m.state, m.resolved_at = FIRING, None  # it fires again, in the same incident
                changed = True
            elif (
                m.state == HELD
                and inc.resolved_at is not None
                and now - inc.resolved_at >= self.policy.hold_symptoms_for
            ):
                m.state = RELEASED  # held long enough: it may start an incident of its own
                changed = True
            if firing and s is not None and m.state in (FIRING, HELD):
                if s.muted != m.muted:
                    m.muted, changed = s.muted, True
                m.evidence = self._evidence(s)
        return changed

    def _join(self, m: Member, changed: set[str], create: bool, now: float = 0.0) -> bool:
        """Put ``m`` in the open incident it is related to (or a new one, with ``create``)."""
        mine = self.hops(m.fingerprint, m.labels)
        candidates = [
            inc
            for inc in self.all.values()
            if inc.state == OPEN
            and any(
                self.topology.related(mine, self.hops(other.fingerprint, other.labels))
                for other in inc.members.values()
                if other.state != RELEASED
            )
        ]
        if candidates:
            inc = min(candidates, key=lambda i: (self._depth(i), i.created_at, i.id))
            for other in candidates:
                if other is not inc:
                    self._merge(other, inc, now)
                    changed.add(other.id)
        elif create:
            inc = Incident(f"{int(now * 1000):013d}.{m.fingerprint[:8]}", now)
            self.all[inc.id] = inc
        else:
            return False
        m = replace(m, state=FIRING)
        inc.members[m.fingerprint] = m
        self._of[m.fingerprint] = inc.id
        changed.add(inc.id)
        return True

    def _merge(self, other: Incident, into: Incident, now: float) -> None:
        """Move ``other``'s members into ``into`` (an alert upstream of both ties them)."""
        for fp, m in other.members.items():
            if m.state in (FIRING, GONE):
                into.members.setdefault(fp, replace(m))
                self._of[fp] = into.id
                if m.state == FIRING:
                    other.members[fp] = replace(m, state=MOVED)
        other.state, other.resolved_at, other.merged_into = RESOLVED, now, into.id

    def _depth(self, inc: Incident) -> int:
        root = inc.members.get(inc.root)
        return (
            root.depth
            if root is not None
            else min((m.depth for m in inc.members.values()), default=99)
        )

    def _settle(self, inc: Incident, now: float, freshness: Callable[[str], str | None]) -> bool:
        """Pick the root, or resolve the incident; return whether that changed anything."""
        policy = self.policy
        firing = inc.in_state(FIRING)
        inc.had_cause = inc.had_cause or any(not m.symptom for m in inc.members.values())
        causes = [m for m in firing if not m.symptom]
        if not firing or (inc.had_cause and not causes):
            inc.state, inc.resolved_at = RESOLVED, now
            for m in firing:
                m.state = HELD
            inc.headline = self._headline(inc, firing, freshness)
            return True
        root = min(firing, key=lambda m: root_key(m, policy))
        changed = False
        if root.fingerprint != inc.root:
            inc.root, inc.root_rule = root.fingerprint, root.rule
            inc.root_hop, inc.root_hop_id = root.hop_label, root.hop
            changed = True
        hops = [h for m in inc.members.values() for h in self.hops(m.fingerprint, m.labels)]
        pipelines = self.topology.pipelines_of(hops)
        if pipelines != inc.pipelines:
            inc.pipelines, changed = pipelines, True
        inc.headline = self._headline(inc, firing, freshness)
        return changed

    def _headline(
        self, inc: Incident, firing: list[Member], freshness: Callable[[str], str | None]
    ) -> str:
        """Return the root's evidence, then the others', then how fresh its pipelines are."""
        ordered = sorted(firing, key=lambda m: root_key(m, self.policy))
        if inc.state == OPEN:
            ordered.sort(key=lambda m: m.fingerprint != inc.root)
        parts = []
        for m in ordered:
            phrase = m.evidence + (" (muted)" if m.muted else "")
            if phrase and phrase not in parts:
                parts.append(phrase)
        for pipeline in inc.pipelines:
            text = freshness(pipeline)
            if text:
                parts.append(text)
        return "; ".join(parts)
