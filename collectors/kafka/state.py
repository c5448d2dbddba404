"""Kafka lag state as store records, so a restarted collector goes on where it stopped.

Namespace ``kafka.state``; one record per cluster and group (key
``<cluster>/group/<group>``: its partitions' tracks and its empty-group clock)
and one per cluster for the log-end history (key ``<cluster>/log-end``). The
collector yields them like samples; the runner writes them. The tracks are
written every cycle (an older copy would cost a restart up to its age of the
window); the log-end history, which may hold hundreds of rows per partition,
at most every ``HISTORY_EVERY`` seconds.

On its first cycle the collector reads them back, at any age the record
lives: the clocks, the commit cadence, the last verdict and the group's
membership clocks go on; across the gap only what the offsets prove is
concluded (see ``PartitionTrack.observe``). Observations older than the
window are left out (the trend rules start afresh). Records of format 1
(before the cadence was kept) are read too: their partitions start without
learnt gaps. A record that cannot be read is skipped with a warning: the
collector then observes those partitions afresh.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from lagwatch.collectors.kafka.timelag import EndOffsetHistory
from lagwatch.collectors.kafka.track import GroupTrack, PartitionTrack
from lagwatch.collectors.kafka.verdict import Point, Status, Verdict
from lagwatch.store import Record, Store, StoreUnavailable
from lagwatch.store.contracts import Namespace

log = logging.getLogger("lagwatch.kafka")

NAMESPACE = Namespace.KAFKA_STATE
FORMAT = 2
READS = (1, 2)
HISTORY_EVERY = 60.0
# A gone group's record is deleted after this long; live ones are rewritten every cycle.
KEEP_AT_LEAST = 86400.0


def group_key(cluster: str, group: str) -> str:
    return f"{cluster}/group/{group}"


def history_key(cluster: str) -> str:
    return f"{cluster}/log-end"


def retention(window: float) -> float:
    return max(KEEP_AT_LEAST, 2 * window)


# -- to records ------------------------------------------------------------------


def _t(ts: float | None) -> float | None:
    return None if ts is None else round(ts, 3)


def group_body(track: GroupTrack, window: float, now: float) -> dict[str, Any]:
    commits = track.commits
    return {
        "v": FORMAT,
        "ts": now,
        "window": window,
        "last_commit_seen": track.last_commit_seen,
        "commits": None if commits is None else [[t, p, o] for (t, p), o in commits.items()],
        "group": [
            track.state,
            _t(track.empty_since),
            _t(track.rebalancing_since),
            track.had_members,
            _t(track.came_back_at),
        ],
        "partitions": [_partition_row(tp, pt, now) for tp, pt in track.partitions.items()],
    }


def _partition_row(tp: tuple[str, int], pt: PartitionTrack, now: float) -> list[Any]:
    # Observation times relative to the record's: a third of the bytes of absolute ones.
    flat: list[float | int | None] = []
    for ts, committed, end in pt.points:
        flat += (round(ts - now, 3), committed, end)
    verdict = pt.verdict
    return [
        tp[0],
        tp[1],
        _t(pt.watched_since),
        pt.committed,
        _t(pt.committed_since),
        _t(pt.waiting_since),
        _t(pt.lagging_since),
        flat,
        None if verdict is None else [int(verdict.status), verdict.rule, verdict.explanation],
        _t(pt.waiting_from),
        list(pt.gaps),
    ]


def history_body(history: EndOffsetHistory, now: float) -> dict[str, Any]:
    rows = [
        [t, p, ends, [round(x, 3) for x in first], [round(x, 3) for x in last]]
        for (t, p), (ends, first, last) in history.snapshot().items()
    ]
    return {"v": FORMAT, "ts": now, "partitions": rows}


# -- from records ----------------------------------------------------------------


def restore_group(body: dict[str, Any], window: float, now: float) -> GroupTrack:
    """Return the group's track, resumed: clocks, cadence and verdicts at any age of the record.

    Observations older than ``window`` are left out but for the newest, which
    the next cycle compares against (offsets only grow).
    """
    version = _version(body)
    commits = body["commits"]
    saved = float(body["ts"])
    track = GroupTrack(
        float(body["last_commit_seen"]),
        None if commits is None else {(str(t), int(p)): _int(o) for t, p, o in commits},
        seen_at=saved,
    )
    if version >= 2:
        state, empty, rebalancing, had_members, came_back = body["group"]
        track.state = _int(state)
        track.empty_since, track.rebalancing_since = _float(empty), _float(rebalancing)
        track.had_members, track.came_back_at = bool(had_members), _float(came_back)
    for row in body["partitions"]:
        topic, partition, watched, committed, since, waiting, lagging, flat, verdict = row[:9]
        points = deque(_points(flat, saved))
        if not points:
            raise ValueError("a partition without observations")
        while len(points) > 1 and points[0][0] < now - window:
            points.popleft()
        pt = PartitionTrack(
            float(watched),
            _int(committed),
            float(since),
            _float(waiting),
            _float(lagging),
            points,
            None if verdict is None else Verdict(Status(int(verdict[0])), verdict[1], verdict[2]),
            resumed=True,
        )
        if version >= 2:
            waiting_from, gaps = row[9], row[10]
            pt.waiting_from = _float(waiting_from)
            pt.gaps.extend(float(g) for g in gaps)
        else:
            pt.waiting_from = pt.waiting_since
        track.partitions[(str(topic), int(partition))] = pt
    return track


def restore_history(body: dict[str, Any], history: EndOffsetHistory) -> None:
    _version(body)
    for topic, partition, ends, first, last in body["partitions"]:
        if not len(ends) == len(first) == len(last) > 0:
            raise ValueError("log-end rows of unequal length")
        history.load(
            (str(topic), int(partition)),
            [int(e) for e in ends],
            [float(x) for x in first],
            [float(x) for x in last],
        )


def _version(body: dict[str, Any]) -> int:
    version = body.get("v")
    if version not in READS:
        raise ValueError(f"format {version!r}, expected one of {', '.join(map(str, READS))}")
    assert isinstance(version, int)
    return version


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _points(flat: list[Any], saved: float) -> Iterator[Point]:
    if len(flat) % 3:
        raise ValueError("observations are not triples")
    for i in range(0, len(flat), 3):
        yield (saved + float(flat[i]), _int(flat[i + 1]), int(flat[i + 2]))


# -- the keeper ------------------------------------------------------------------


class StateKeeper:
    """Restores a cluster's state once from the store and turns it into records each cycle."""

    def __init__(self, cluster: str, window: float, store: Store | None) -> None:
        self.cluster = cluster
        self.window = window
        self.store = store
        self.restored = store is None
        self._history_written = float("-inf")

    def restore(self, groups: dict[str, GroupTrack], history: EndOffsetHistory, now: float) -> None:
        """Fill ``groups`` and ``history`` from the store, once; never raises."""
        if self.restored:
            return
        self.restored = True
        assert self.store is not None
        try:
            records = self.store.list_records(NAMESPACE)
        except StoreUnavailable as exc:
            log.warning(
                "kafka %s: cannot read saved lag state, starting afresh: %s", self.cluster, exc
            )
            return
        prefix = group_key(self.cluster, "")
        for record in records:
            try:
                if record.key == history_key(self.cluster):
                    restore_history(record.body, history)
                elif record.key.startswith(prefix):
                    track = restore_group(record.body, self.window, now)
                    groups[record.key[len(prefix) :]] = track
            except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
                log.warning(
                    "kafka %s: ignoring saved lag state %r (%s); observing it afresh",
                    self.cluster,
                    record.key,
                    exc or type(exc).__name__,
                )

    def records(
        self, groups: dict[str, GroupTrack], history: EndOffsetHistory, now: float
    ) -> Iterable[Record]:
        """Return this cycle's state records: every group, and the history when it is due."""
        out = [
            Record(NAMESPACE, group_key(self.cluster, g), now, group_body(t, self.window, now))
            for g, t in groups.items()
        ]
        if now - self._history_written >= HISTORY_EVERY:
            self._history_written = now
            out.append(
                Record(NAMESPACE, history_key(self.cluster), now, history_body(history, now))
            )
        return out
