"""The event catalog: one entry per topic a registry watches, read from the store only.

Each entry: the topic's subjects (versions with their fields, latest id,
compatibility, mode, findings), owner, the consumer groups reading it (the
Kafka collector's `lagwatch_kafka_partition_lag_messages`), produce rate,
payload p50/p99/max, messages checked, violations by kind with the last
violating messages, and the sampler's backlog. `lagwatch catalog --json`
prints it; the dashboard's Catalog page shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from lagwatch.store import Store
from lagwatch.store.contracts import Namespace

KINDS = (
    "no_magic_byte",
    "unknown_schema_id",
    "wrong_subject",
    "invalid_payload",
    "oversized_payload",
)
QUANTILES = {"0.5": "p50", "0.99": "p99", "max": "max"}


class RegistryEntry(Protocol):
    """What the catalog needs of a `registries:` entry (``RegistryConfig`` has it)."""

    name: str
    kafka: str
    subject_strategy: str

    def owner(self, *names: str) -> str | None: ...


def _by(
    store: Store, name: str, registry: str, *keys: str
) -> dict[tuple[str, ...], tuple[float, str | None]]:
    out = {}
    for v in store.latest(name, {"registry": registry}):
        labels = v.label_dict
        out[tuple(labels.get(k, "") for k in keys)] = (v.value, v.note)
    return out


def topic_subjects(
    strategy: str, topic: str, audited: dict[str, Any], seen: Sequence[str]
) -> list[str]:
    """Return the subjects of a topic under the naming strategy, among the audited ones."""
    if strategy == "topic":
        wanted = [f"{topic}-value", f"{topic}-key"]
        return [s for s in wanted if s in audited]
    if strategy == "topic_record":
        found = [s for s in audited if s.startswith(f"{topic}-")]
        return sorted(set(found) | {s for s in seen if s in audited})
    return sorted(s for s in seen if s in audited)


def _subject(name: str, info: dict[str, Any]) -> dict[str, Any]:
    versions = info.get("versions") or []
    latest = versions[-1] if versions else {}
    return {
        "subject": name,
        "part": "key" if name.endswith("-key") else "value",
        "latest_version": latest.get("version"),
        "latest_id": latest.get("id"),
        "type": latest.get("type"),
        "name": latest.get("name"),
        "purpose": latest.get("purpose"),
        "fields": latest.get("fields", []),
        "compatibility": info.get("compatibility"),
        "mode": info.get("mode"),
        "deleted": bool(info.get("deleted")),
        "versions": [
            {k: v.get(k) for k in ("version", "id", "type", "name", "fields", "problems")}
            for v in versions
        ],
        "governance": {
            rule: notes for rule, notes in (info.get("findings") or {}).items() if notes
        },
    }


def build_catalog(store: Store, registries: Sequence[RegistryEntry]) -> list[dict[str, Any]]:
    """Return the catalog entries of every registry, sorted by registry and topic."""
    out: list[dict[str, Any]] = []
    for registry in registries:
        name = registry.name
        state = store.get_record(Namespace.REGISTRY_STATE, name)
        audit = store.get_record(Namespace.REGISTRY_AUDIT, name)
        topics: dict[str, Any] = dict(state.body.get("topics", {})) if state else {}
        audited: dict[str, Any] = dict(audit.body.get("subjects", {})) if audit else {}
        checked = _by(store, "lagwatch_registry_messages_checked_total", name, "topic")
        tombstones = _by(store, "lagwatch_registry_tombstones_total", name, "topic")
        violations = _by(store, "lagwatch_registry_violations_total", name, "topic", "kind")
        sizes = _by(store, "lagwatch_registry_payload_bytes", name, "topic", "quantile")
        rates = _by(store, "lagwatch_registry_topic_produced_per_second", name, "topic")
        behind = _by(store, "lagwatch_registry_sampler_behind_messages", name, "topic")
        groups: dict[str, set[str]] = {}
        # Partition series name every group (group-topic sums are left out while a partition
        # is unknown); with `partition_series: problems` only the group-topic sums name them all.
        for metric in (
            "lagwatch_kafka_partition_lag_messages",
            "lagwatch_kafka_group_topic_lag_messages",
        ):
            for v in store.latest(metric, {"cluster": registry.kafka}):
                labels = v.label_dict
                groups.setdefault(labels.get("topic", ""), set()).add(labels.get("group", ""))
        kept = store.list_records(Namespace.REGISTRY_VIOLATIONS)
        recent: dict[tuple[str, str], list[Any]] = {}
        for record in kept:
            if record.key.startswith(f"{name}/"):
                topic, _, kind = record.key[len(name) + 1 :].rpartition("/")
                recent[(topic, kind)] = list(record.body.get("messages", []))
        for topic in sorted(set(topics) | {k[0] for k in checked}):
            seen = (topics.get(topic) or {}).get("subjects", [])
            subjects = [
                _subject(s, audited[s])
                for s in topic_subjects(registry.subject_strategy, topic, audited, seen)
            ]
            payload = {
                label: sizes[(topic, q)][0] for q, label in QUANTILES.items() if (topic, q) in sizes
            }
            out.append(
                {
                    "registry": name,
                    "topic": topic,
                    "owner": registry.owner(topic, *(s["subject"] for s in subjects)),
                    "subjects": subjects,
                    "consumer_groups": sorted(g for g in groups.get(topic, set()) if g),
                    "produced_per_second": rates.get((topic,), (None, None))[0],
                    "payload_bytes": payload,
                    "messages_checked": checked.get((topic,), (0.0, None))[0],
                    "tombstones": tombstones.get((topic,), (0.0, None))[0],
                    "violations": {k: violations.get((topic, k), (0.0, None))[0] for k in KINDS},
                    "recent_violations": {
                        k: recent[(topic, k)] for k in KINDS if recent.get((topic, k))
                    },
                    "sampler_behind": behind.get((topic,), (None, None))[0],
                    "governance": {
                        s["subject"]: s["governance"] for s in subjects if s["governance"]
                    },
                }
            )
    return out


def registry_summary(store: Store, registries: Sequence[RegistryEntry]) -> list[dict[str, Any]]:
    """Return each registry's state: up, flavour, global level and mode, subjects."""
    out = []
    for registry in registries:
        up = store.latest("lagwatch_registry_up", {"registry": registry.name})
        audit = store.get_record(Namespace.REGISTRY_AUDIT, registry.name)
        body = audit.body if audit else {}
        out.append(
            {
                "registry": registry.name,
                "up": up[0].value if up else None,
                "note": up[0].note if up else None,
                "flavour": body.get("flavour"),
                "global": body.get("global"),
                "subjects": len(body.get("subjects", {})),
                "audited_at": audit.ts if audit else None,
            }
        )
    return out
