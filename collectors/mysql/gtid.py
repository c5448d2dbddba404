"""GTID sets of both flavours, and the one question asked of them: what has the reader lost?

MySQL writes a set of intervals per source uuid (``uuid:1-5:7,uuid2:1-3``;
8.3+ may add tags: ``uuid:tag:1-4``). A reader connecting with a GTID set is
sent every transaction not in it, so it fails (error 1236) as soon as one of
those is purged: the reader is safe while ``gtid_purged`` ⊆ its set.

MariaDB writes one ``domain-server-seq`` per (domain, server) and a reader
keeps the last GTID it applied per domain. Sequence numbers grow per domain,
so the reader is safe while, in every domain the purged state mentions, its
sequence number is at least the purged one. A reader with no position in a
domain would start that domain from its first event; if the domain has purged
events that start is gone, so it counts as lost too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_UUID = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)
_TAG = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")
_INTERVAL = re.compile(r"^(\d+)(?:-(\d+))?$")
_MARIADB = re.compile(r"^(\d+)-(\d+)-(\d+)$")


class GtidError(ValueError):
    """A GTID text could not be read; the message quotes the bad part."""


Interval = tuple[int, int]


@dataclass(frozen=True)
class MysqlGtidSet:
    """A MySQL GTID set: closed intervals of transaction numbers per ``uuid`` or ``uuid:tag``."""

    intervals: dict[str, list[Interval]]

    @classmethod
    def parse(cls, text: str) -> MysqlGtidSet:
        """Return the set written as MySQL prints it (newlines and spaces allowed)."""
        found: dict[str, list[Interval]] = {}
        for part in re.sub(r"\s+", "", text).split(","):
            if not part:
                continue
            fields = part.split(":")
            uuid = fields[0].lower()
            if not _UUID.match(uuid):
                raise GtidError(f"{part!r} does not start with a server uuid")
            sid = uuid.replace("-", "")
            tag = ""
            for field in fields[1:]:
                match = _INTERVAL.match(field)
                if match:
                    low = int(match.group(1))
                    high = int(match.group(2) or low)
                    if high < low:
                        raise GtidError(f"interval {field!r} in {part!r} runs backwards")
                    found.setdefault(f"{sid}:{tag}", []).append((low, high))
                elif _TAG.match(field):
                    tag = field.lower()
                else:
                    raise GtidError(f"{field!r} in {part!r} is neither an interval nor a tag")
        return cls({key: _merge(spans) for key, spans in found.items()})

    def missing_from(self, other: MysqlGtidSet) -> MysqlGtidSet:
        """Return the part of this set that ``other`` lacks."""
        out: dict[str, list[Interval]] = {}
        for key, spans in self.intervals.items():
            rest = _subtract(spans, other.intervals.get(key, []))
            if rest:
                out[key] = rest
        return MysqlGtidSet(out)

    def __bool__(self) -> bool:
        return bool(self.intervals)

    def __str__(self) -> str:
        parts = []
        for key in sorted(self.intervals):
            sid, tag = key.split(":")
            uuid = f"{sid[:8]}-{sid[8:12]}-{sid[12:16]}-{sid[16:20]}-{sid[20:]}"
            spans = ":".join(f"{a}" if a == b else f"{a}-{b}" for a, b in self.intervals[key])
            parts.append(f"{uuid}:{tag}:{spans}" if tag else f"{uuid}:{spans}")
        return ",".join(parts)


@dataclass(frozen=True)
class MariadbGtidPos:
    """A MariaDB GTID position or binlog state: the last sequence number per (domain, server)."""

    seqs: dict[tuple[int, int], int]

    @classmethod
    def parse(cls, text: str) -> MariadbGtidPos:
        """Return the position written as ``0-1-100,1-2-50`` (brackets, as in Gtid_list, allowed)."""
        seqs: dict[tuple[int, int], int] = {}
        for part in re.sub(r"[\s\[\]]+", "", text).split(","):
            if not part:
                continue
            match = _MARIADB.match(part)
            if not match:
                raise GtidError(f"{part!r} is not a MariaDB GTID (domain-server-sequence)")
            key = (int(match.group(1)), int(match.group(2)))
            seqs[key] = max(seqs.get(key, 0), int(match.group(3)))
        return cls(seqs)

    def domains(self) -> dict[int, int]:
        """Return the highest sequence number per domain."""
        out: dict[int, int] = {}
        for (domain, _server), seq in self.seqs.items():
            out[domain] = max(out.get(domain, 0), seq)
        return out

    def missing_from(self, reader: MariadbGtidPos) -> list[str]:
        """Return, per domain this purged state has and ``reader`` is behind in, what is gone."""
        have = reader.domains()
        gone = []
        for domain, seq in sorted(self.domains().items()):
            if seq == 0:
                continue
            if domain not in have:
                gone.append(f"domain {domain}: reader has no position, purged up to {seq}")
            elif have[domain] < seq:
                gone.append(f"domain {domain}: reader at {have[domain]}, purged up to {seq}")
        return gone


def purged_gtids_missing(flavour: str, purged: str, reader: str) -> str | None:
    """Return what the reader needs but the server has purged, or None when nothing is.

    Raises GtidError naming the bad text when either side cannot be read in
    the server's own format.
    """
    if flavour == "mariadb":
        gone = MariadbGtidPos.parse(purged).missing_from(MariadbGtidPos.parse(reader))
        return "; ".join(gone) if gone else None
    missing = MysqlGtidSet.parse(purged).missing_from(MysqlGtidSet.parse(reader))
    return str(missing) if missing else None


def _merge(spans: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for low, high in sorted(spans):
        if out and low <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], high))
        else:
            out.append((low, high))
    return out


def _subtract(spans: list[Interval], minus: list[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for low, high in spans:
        start = low
        for m_low, m_high in minus:
            if m_high < start or m_low > high:
                continue
            if m_low > start:
                out.append((start, m_low - 1))
            start = max(start, m_high + 1)
            if start > high:
                break
        if start <= high:
            out.append((start, high))
    return out
