"""The alert engine: rules over the store → alert states → groups → notifications in the outbox.

It reads the store, keeps its state in store records and returns the samples
it wants written; the daemon submits them through the runner. Deciding to
notify and writing the outbox record are one store write, so a crash after
deciding can only lead to a resend, never to a lost page.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence

from lagwatch.alerts.builtin import effective_rules
from lagwatch.alerts.config import AlertsConfig
from lagwatch.alerts.expr import parse_selector
from lagwatch.alerts.grouping import GroupState, decide
from lagwatch.alerts.history import Change, change_of, kept, prune
from lagwatch.alerts.incidents import HELD, MOVED, Incident, Incidents
from lagwatch.alerts.incidents import NAMESPACE as INCIDENTS
from lagwatch.alerts.inhibit import DEFAULT_INHIBIT, Candidate, Inhibition, inhibited
from lagwatch.alerts.notifiers.base import AlertView
from lagwatch.alerts.outbox import outbox_record
from lagwatch.alerts.routing import (
    Destination,
    GroupPolicy,
    group_key,
    group_labels,
    incident_key,
    route,
)
from lagwatch.alerts.rules import Observation, Rule, compile_rule
from lagwatch.alerts.silences import Silence, list_silences, silenced_by
from lagwatch.alerts.state import (
    FIRING,
    PENDING,
    RESOLVED,
    AlertState,
    FlapPolicy,
    Timing,
    fingerprint,
    step,
)
from lagwatch.alerts.state import NAMESPACE as STATES
from lagwatch.alerts.telling import Teller
from lagwatch.alerts.template import format_value
from lagwatch.alerts.topology import Topology
from lagwatch.alerts.view import DataView, FollowingView, LiveView, RangeCache
from lagwatch.store import Record, Sample, Store, StoreUnavailable
from lagwatch.store.contracts import Namespace

log = logging.getLogger("lagwatch.alerts")

GROUPS = Namespace.ALERTS_GROUPS
INSTANCES = "lagwatch_alert_instances"
FRESHNESS = "lagwatch_pipeline_freshness_seconds"
_FRESHNESS = parse_selector(FRESHNESS)
EVALUATION = "lagwatch_alert_evaluation_seconds"
RULES_FAILING = "lagwatch_alert_rules_failing"
# A firing alert's value is saved at least this often even when nothing else changes.
REFRESH_RECORD = 60.0
PRUNE_HISTORY_EVERY = 3600.0


class Engine:
    """Evaluates every rule, steps each alert's state, and turns group changes into outbox records."""

    def __init__(
        self,
        store: Store,
        config: AlertsConfig,
        topology: Topology | None = None,
        clock: Callable[[], float] = time.time,
        rules: Sequence[Rule] | None = None,
        incremental: bool = True,
    ) -> None:
        self.store = store
        self.config = config
        self.topology = topology or Topology()
        self.clock = clock
        self.rules = (
            list(rules)
            if rules is not None
            else [compile_rule(r, self.topology) for r in effective_rules(config)]
        )
        self.by_name = {r.name: r for r in self.rules}
        self.teller = Teller(config, self.by_name)
        self.flap = FlapPolicy(config.flap.window, config.flap.changes)
        self.defaults = GroupPolicy(
            tuple(config.group_by), config.group_wait, config.group_interval, config.repeat_interval
        )
        self.receivers = [r.name for r in config.receivers]
        self.default_receivers = [config.receiver] if config.receiver else self.receivers
        self.send_resolved = {r.name: r.send_resolved for r in config.receivers}
        inhibit = (list(DEFAULT_INHIBIT) if config.default_inhibit else []) + config.inhibit
        self.inhibitions: list[Inhibition] = [r.compiled() for r in inhibit]
        repeats, stack = [config.repeat_interval], list(config.routes)
        while stack:
            node = stack.pop()
            repeats += [node.repeat_interval] if node.repeat_interval is not None else []
            stack.extend(node.routes)
        self._shortest_repeat = min(repeats)
        self.states: dict[str, AlertState] = {}
        self.groups: dict[str, GroupState] = {}
        self.started = clock()
        self.ranges = RangeCache()
        # Latest values kept between cycles, refreshed with what changed (``incremental``);
        # otherwise every cycle reads every series its rules select again.
        # Incidents: alerts tied to one pipeline hop or source, told as one (with pipelines).
        self.incidents = Incidents(self.topology, config.incidents.policy())
        metrics = {m for r in self.rules for m in r.kind.metrics()} | {FRESHNESS}
        self.follower = (
            FollowingView(store, self.started, metrics, self.ranges) if incremental else None
        )
        self._saved_at: dict[str, float] = {}
        self._told: set[str] = set()
        self._incident_saved: dict[str, float] = {}
        self._routes: dict[str, list[Destination]] = {}
        self._origins: dict[str, frozenset[str]] = {}
        # (rule, severity, observed labels) → (fingerprint, full labels): hashing once per alert.
        self._identities: dict[tuple[object, ...], tuple[str, dict[str, str]]] = {}
        self._loaded = False
        self._lock = threading.Lock()
        # The state changes of the last evaluation (those that fire or resolve go to the history).
        self.changes: list[Change] = []
        self._pruned_at = -math.inf

    # -- state in the store ----------------------------------------------------

    def load(self) -> None:
        """Read alert states and groups back from the store (after a restart or a failover)."""
        self.states = {r.key: AlertState.from_json(r.body) for r in self.store.list_records(STATES)}
        self.incidents.load(self.store.list_records(INCIDENTS))
        self.groups = {}
        for r in self.store.list_records(GROUPS):
            group = GroupState.from_json(r.body)
            if group.sent or group.next_at is not None:
                self.groups[r.key] = group
        self._loaded = True
        log.info(
            "alert engine: %d alerts and %d groups remembered", len(self.states), len(self.groups)
        )

    # -- one evaluation --------------------------------------------------------

    def evaluate(self, now: float | None = None, view: DataView | None = None) -> list[Sample]:
        """Run every rule once, update alerts and groups, queue notifications; return samples."""
        with self._lock:
            now = self.clock() if now is None else now
            t0 = time.perf_counter()
            if not self._loaded:
                self.load()
            if view is None:
                if self.follower is not None:
                    self.follower.started = self.started
                    view = self.follower.refresh(now)
                else:
                    view = LiveView(self.store, now, self.started, self.ranges)
            seen, failed = self._observe(view)
            removed = self._step_all(seen, failed, now)
            silences = list_silences(self.store, now)
            self._mute(silences, now)
            incidents, forgotten = self._incidents(view, now)
            records, deletes = self._settle(now)
            self._persist(incidents + records, removed, deletes, now, forgotten)
            return self._samples(now, time.perf_counter() - t0, len(failed))

    def settle(self, now: float | None = None) -> None:
        """Send what group timers hold back once they are due (no rule is evaluated)."""
        with self._lock:
            now = self.clock() if now is None else now
            if not self._loaded:
                return
            repeat = self._shortest_repeat
            if any(
                (g.next_at is not None and g.next_at <= now)
                or (g.last_sent_at is not None and now >= g.last_sent_at + repeat)
                for g in self.groups.values()
            ):
                records, deletes = self._settle(now)
                self._persist(records, [], deletes, now)

    def next_due(self) -> float | None:
        """Return when a held-back group notification becomes due."""
        times = [g.next_at for g in self.groups.values() if g.next_at is not None]
        return min(times) if times else None

    def _observe(
        self, view: DataView
    ) -> tuple[dict[str, tuple[Rule, Observation, dict[str, str]]], set[str]]:
        seen: dict[str, tuple[Rule, Observation, dict[str, str]]] = {}
        failed: set[str] = set()
        for rule in self.rules:
            try:
                observations = rule.observe(view)
            except StoreUnavailable:
                raise  # judging on no data would resolve every alert: skip the whole cycle
            except Exception:
                log.exception("rule %s failed; its alerts keep their state", rule.name)
                failed.add(rule.name)
                continue
            for obs in observations:
                key = (rule.name, obs.severity, tuple(obs.labels.items()))
                known = self._identities.get(key)
                if known is None:
                    labels = {
                        **obs.labels,
                        **rule.config.labels,
                        "alertname": rule.name,
                        "severity": obs.severity or rule.config.severity,
                    }
                    if len(self._identities) > 100_000:
                        self._identities.clear()
                    known = self._identities[key] = (fingerprint(labels), labels)
                seen[known[0]] = (rule, obs, known[1])
        return seen, failed

    def _step_all(
        self,
        seen: dict[str, tuple[Rule, Observation, dict[str, str]]],
        failed: set[str],
        now: float,
    ) -> list[str]:
        removed = []
        self.changes = []
        # Alerts whose words were rendered this cycle, with the value of now.
        told = self._told = set()
        for fp in set(seen) | set(self.states):
            before = self.states.get(fp)
            if fp in seen:
                rule, obs, labels = seen[fp]
                name: str = rule.name
                found: Rule | None = rule
                observed: Observation | None = obs
            else:
                assert before is not None
                if before.rule in failed:
                    continue
                name, labels, observed = before.rule, before.labels, None
                found = self.by_name.get(name)
            if before is None and observed is None:
                continue
            timing = Timing(found.config.for_, found.config.keep_firing_for) if found else Timing()
            after = step(before, observed, name, labels, timing, self.flap, now, fp)
            if after is None:
                if before is not None:
                    del self.states[fp]
                    removed.append(fp)
            else:
                if before is None or after.key_fields() != before.key_fields():
                    if after.state != RESOLVED:  # a resolve keeps the words it fired with
                        after = after.evolve(
                            annotations=self.teller.annotations(after),
                            unit=self.teller.units.get(name, ""),
                        )
                        told.add(fp)
                    self._saved_at.pop(fp, None)
                self.states[fp] = after
            change = change_of(before, after, now)
            if change is not None:
                self.changes.append(change)
        self.changes.sort(key=lambda c: c.fingerprint)
        return removed

    def _mute(self, silences: Sequence[Silence], now: float) -> None:
        holding = [
            Candidate(fp, s.labels, self._origin(fp, s.labels))
            for fp, s in self.states.items()
            if s.state in (FIRING, PENDING)
        ]
        for fp, s in list(self.states.items()):
            if s.state != FIRING:
                continue
            reason = None
            silence = silenced_by(silences, s.labels, now)
            if silence is not None:
                reason = f"silenced by {silence}"
            else:
                by = inhibited(
                    self.inhibitions, holding, Candidate(fp, s.labels, self._origin(fp, s.labels))
                )
                if by is not None:
                    reason = f"inhibited by {self.states[by].rule} {by}"
            if reason != s.muted:
                self.states[fp] = s.evolve(muted=reason)
                self._saved_at.pop(fp, None)

    def _incidents(self, view: DataView, now: float) -> tuple[list[Record], list[str]]:
        """Tie firing alerts into incidents; return the changed incidents' records and the
        ids of those forgotten."""
        if not (self.config.incidents.enabled and self.topology.links):
            return [], []
        self.incidents.use(self.topology)

        def freshness(pipeline: str) -> str | None:
            link = self.topology.pipeline(pipeline)
            if link is None or link.freshness is None:
                return None
            found = [
                p for p in view.select(_FRESHNESS) if dict(p.labels).get("pipeline") == pipeline
            ]
            if not found or not found[0].value > link.freshness:
                return None
            seen, slo = (
                format_value(found[0].value, "seconds"),
                format_value(link.freshness, "seconds"),
            )
            return f"freshness {seen}, over its {slo} SLO"

        changed, forgotten = self.incidents.update(
            self.states, now, freshness, self.teller.annotations
        )
        due = {
            key
            for key, inc in self.incidents.all.items()
            if now - self._incident_saved.get(key, -math.inf) >= REFRESH_RECORD
        }
        records = []
        for key in sorted(changed | due):
            records.append(self.incidents.all[key].to_record(now))
            self._incident_saved[key] = now
        for key in forgotten:
            self._incident_saved.pop(key, None)
        return records, forgotten

    def _still_firing(self, incident: Incident) -> dict[str, str]:
        """Return the members ``incident`` no longer tells though they fire, and why."""
        out = {m.fingerprint: "still firing, held with the resolved incident"
               for m in incident.in_state(HELD)}  # fmt: skip
        into = self.incidents.all.get(incident.merged_into or "")
        if into is not None:
            where = f"now told with the incident at {into.root_hop}"
            out.update({m.fingerprint: where for m in incident.in_state(MOVED)})
        return out

    def _origin(self, fp: str, labels: dict[str, str]) -> frozenset[str]:
        found = self._origins.get(fp)
        if found is None:
            found = self._origins[fp] = self.topology.origins(labels)
        return found

    def _destinations(self, fp: str, labels: dict[str, str]) -> list[Destination]:
        found = self._routes.get(fp)
        if found is None:
            found = self._routes[fp] = route(
                self.config.routes, labels, self.defaults, self.default_receivers
            )
        return found

    # -- groups and the outbox -------------------------------------------------

    def _view_by_fp(self, fp: str) -> AlertView | None:
        state = self.states.get(fp)
        return None if state is None else self.teller.view_of(state)

    def _settle(self, now: float) -> tuple[list[Record], list[str]]:
        drafts: dict[str, tuple[Destination, dict[str, str], dict[str, str]]] = {}
        muted: set[str] = set()
        # Without pipelines (or with incidents off) alerts go to their group_by groups; an
        # incident left from before is then told resolved, its alerts told in those groups.
        on = self.config.incidents.enabled and bool(self.topology.links)
        incidents = self.incidents if on else None
        of_group: dict[str, str] = {}
        for fp, s in self.states.items():
            if s.state != FIRING:
                continue
            if s.muted:
                muted.add(fp)
            incident = incidents.open_incident_of(fp) if incidents else None
            if incident is None and incidents is not None and incidents.held(fp):
                continue  # a symptom its resolved incident still holds: it is not told again
            for dest in self._destinations(fp, s.labels):
                if incident is not None:
                    key = incident_key(dest, incident.id)
                    labels = {"incident": incident.id}
                    of_group[key] = incident.id
                else:
                    key, labels = (
                        group_key(dest, s.labels),
                        group_labels(s.labels, dest.policy.group_by),
                    )
                draft = drafts.setdefault(key, (dest, labels, {}))
                draft[2][fp] = "flapping" if s.flapping else "firing"
        records: list[Record] = []
        deletes: list[str] = []
        policies = {k: d[0].policy for k, d in drafts.items()}
        for key in set(drafts) | set(self.groups):
            group = self.groups.get(key)
            if key in drafts:
                dest, labels, members = drafts[key]
                if group is None:
                    group = GroupState(
                        key, dest.receiver, dest.route, labels, now, incident=of_group.get(key)
                    )
            else:
                members = {}
            assert group is not None
            open_now = {fp: st for fp, st in members.items() if fp not in muted or fp in group.sent}
            if not open_now and not group.sent and key not in self.groups:
                continue
            policy = policies.get(key) or self.defaults
            snapshot, held, hint = None, {}, self.teller.silence_hint(group.labels)
            told = self.incidents.all.get(group.incident or "")
            if told is not None:
                snapshot = told.snapshot(self.incidents.policy)
                held = self._still_firing(told)
                root = self.states.get(told.root)
                hint = self.teller.silence_hint(root.labels) if root is not None else ""
            outcome = decide(
                group,
                open_now,
                self._view_by_fp,
                policy,
                self.send_resolved.get(group.receiver, True),
                now,
                hint,
                self.config.dashboard_url,
                snapshot,
                held,
            )
            if outcome.notification is not None:
                records.append(outbox_record(outcome.notification))
            if outcome.group is None:
                if key in self.groups:
                    del self.groups[key]
                    deletes.append(key)
            else:
                self.groups[key] = outcome.group
                if outcome.changed:
                    records.append(Record(GROUPS, key, now, outcome.group.to_json()))
        return records, deletes

    def _persist(
        self,
        records: list[Record],
        removed: list[str],
        deletes: list[str],
        now: float,
        forgotten: Sequence[str] = (),
    ) -> None:
        for fp, s in list(self.states.items()):
            if now - self._saved_at.get(fp, -math.inf) >= REFRESH_RECORD:
                if s.state != RESOLVED and fp not in self._told:
                    # Words with the value of now, as a notification sent now would say.
                    s = self.states[fp] = s.evolve(annotations=self.teller.annotations(s))
                records.append(Record(STATES, fp, now, s.to_json()))
                self._saved_at[fp] = now
        self._told = set()
        records.extend(c.to_record() for c in self.changes if kept(c))
        # One write holds the new states, their history, groups and outbox records together.
        self.store.put_records(records)
        if removed:
            self.store.delete_records(STATES, removed)
            for fp in removed:
                self._saved_at.pop(fp, None)
                self._routes.pop(fp, None)
                self._origins.pop(fp, None)
        if deletes:
            self.store.delete_records(GROUPS, deletes)
        if forgotten:
            self.store.delete_records(INCIDENTS, list(forgotten))
        if now - self._pruned_at >= PRUNE_HISTORY_EVERY:
            self._pruned_at = now
            prune(self.store, now)

    def _samples(self, now: float, seconds: float, failed: int) -> list[Sample]:
        counts = Counter((s.state, s.labels.get("severity", "")) for s in self.states.values())
        out = [Sample.of(EVALUATION, seconds, now), Sample.of(RULES_FAILING, failed, now)]
        for state in (PENDING, FIRING):
            for severity in ("page", "ticket", "warning", "info"):
                out.append(
                    Sample.of(
                        INSTANCES,
                        counts.get((state, severity), 0),
                        now,
                        state=state,
                        severity=severity,
                    )
                )
        return out
