"""Silences: matchers, author, comment and an expiry, kept as store records."""

from __future__ import annotations

import shlex
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lagwatch.alerts.expr import Matcher, parse_matcher
from lagwatch.store import Record, Store
from lagwatch.store.contracts import Namespace

NAMESPACE = Namespace.ALERTS_SILENCES


@dataclass(frozen=True)
class Silence:
    """Mutes every alert whose labels match all ``matchers`` from ``starts_at`` until ``ends_at``."""

    id: str
    matchers: tuple[Matcher, ...]
    author: str
    comment: str
    starts_at: float
    ends_at: float
    created_at: float

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)

    def to_record(self) -> Record:
        return Record(
            NAMESPACE,
            self.id,
            self.created_at,
            {
                "matchers": [[m.name, m.op, m.value] for m in self.matchers],
                "author": self.author,
                "comment": self.comment,
                "starts_at": self.starts_at,
                "ends_at": self.ends_at,
                "created_at": self.created_at,
            },
        )

    @classmethod
    def from_record(cls, record: Record) -> Silence:
        b = record.body
        return cls(
            record.key,
            tuple(Matcher(n, op, v) for n, op, v in b["matchers"]),
            b["author"],
            b["comment"],
            float(b["starts_at"]),
            float(b["ends_at"]),
            float(b["created_at"]),
        )


def split_matchers(text: str) -> list[str]:
    """Return the matchers in one text: one per line, or apart by spaces or commas outside quotes."""
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace += ","
    lexer.whitespace_split = True
    lexer.commenters = ""
    return list(lexer)


def parse_matchers(texts: Sequence[str]) -> tuple[Matcher, ...]:
    """Return the matchers written as ``name=value``, ``name=~regex`` …; raise ValueError on a bad one."""
    if not texts:
        raise ValueError(
            "give at least one matcher, e.g. alertname=KafkaGroupStopped group=billing"
        )
    return tuple(parse_matcher(m) for m in texts)


def add_silence(
    store: Store,
    matchers: Sequence[str],
    author: str,
    comment: str,
    ends_at: float,
    now: float,
    starts_at: float | None = None,
) -> Silence:
    """Store a new silence and return it; raise ValueError on a bad matcher or an empty comment."""
    parsed = parse_matchers(matchers)
    if not comment.strip():
        raise ValueError("say why in --comment; the next person on call will read it")
    if not author.strip():
        raise ValueError("say who in --author")
    start = now if starts_at is None else starts_at
    if ends_at <= start:
        raise ValueError(
            "the silence ends before it starts; give a positive --for or a later --until"
        )
    silence = Silence(uuid.uuid4().hex[:12], parsed, author, comment, start, ends_at, now)
    store.put_records([silence.to_record()])
    return silence


def list_silences(store: Store, now: float, include_expired: bool = False) -> list[Silence]:
    """Return silences that are active or scheduled (and expired ones when asked)."""
    found = [Silence.from_record(r) for r in store.list_records(NAMESPACE)]
    return [s for s in found if include_expired or s.ends_at > now]


def expire_silence(store: Store, silence_id: str, now: float) -> Silence:
    """End a silence now and return it; raise KeyError when there is no such silence."""
    record = store.get_record(NAMESPACE, silence_id)
    if record is None:
        raise KeyError(silence_id)
    silence = Silence.from_record(record)
    ended = Silence(
        silence.id,
        silence.matchers,
        silence.author,
        silence.comment,
        min(silence.starts_at, now),
        min(silence.ends_at, now),
        silence.created_at,
    )
    store.put_records([ended.to_record()])
    return ended


def silenced_by(silences: Sequence[Silence], labels: Mapping[str, str], now: float) -> str | None:
    """Return the id of the first active silence matching ``labels``."""
    for s in silences:
        if s.active(now) and s.matches(labels):
            return s.id
    return None
