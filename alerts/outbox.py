"""The durable outbox and its dispatcher: retries, rate limits, digests and receiver health.

Every notification is a store record before anything is sent. The dispatcher
sends due records, deletes them on success, reschedules them on a retryable
failure (429 honouring Retry-After, 5xx, timeouts: exponential backoff with
jitter), and drops them on a permanent one (400, 403, 404, 410) into the
history with the reason. A backlog for a rate-limited receiver that can merge
(Slack, log) goes out as one digest.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from lagwatch.alerts.notifiers.base import Digest, Notification, Notifier, Result
from lagwatch.store import Record, Sample, Store
from lagwatch.store.contracts import Namespace

log = logging.getLogger("lagwatch.alerts.delivery")

OUTBOX = Namespace.ALERTS_OUTBOX
HISTORY = Namespace.ALERTS_SENT
THREADS = Namespace.ALERTS_THREADS
NOTIFY_SECONDS = "lagwatch_alert_notify_seconds"
BROKEN = "lagwatch_alert_receiver_broken"
NOTIFICATIONS = "lagwatch_alert_notifications_total"
PENDING = "lagwatch_alert_outbox_pending"
RETRY_AFTER_CAP = 3600.0
HEALTH_EVERY = 60.0


def outbox_record(n: Notification) -> Record:
    """Return the outbox record for a notification that is due at once."""
    key = f"{int(n.created_at * 1000):013d}.{n.receiver}.{n.group_key}"
    body = {"notification": n.to_json(), "attempts": 0, "next_attempt_at": n.created_at}
    return Record(OUTBOX, key, n.created_at, body)


def _carry_changes(older: Record, newer: Record) -> Record:
    """Return ``newer`` with the changes ``older`` would have told put before its own."""
    before = older.body["notification"].get("changes") or []
    if not before:
        return newer
    notification = dict(newer.body["notification"])
    mine = notification.get("changes") or []
    notification["changes"] = [*before, *(c for c in mine if c not in before)]
    return Record(
        newer.namespace, newer.key, newer.ts, {**newer.body, "notification": notification}
    )


@dataclass(frozen=True)
class RetryPolicy:
    initial: float = 1.0
    maximum: float = 60.0
    give_up_after: float = 86400.0
    broken_after: int = 3

    def delay(self, attempts: int, result: Result, rand: Callable[[], float]) -> float:
        """Return the wait before the next attempt: Retry-After if given, else backoff with jitter."""
        if result.retry_after is not None:
            return min(result.retry_after, RETRY_AFTER_CAP) * (1.0 + 0.1 * rand())
        backoff = min(self.maximum, self.initial * 2 ** max(0, attempts - 1))
        return backoff * (0.5 + 0.5 * rand())


@dataclass
class Health:
    """What the dispatcher knows of one receiver since it started."""

    next_allowed_at: float = 0.0
    failures_in_row: int = 0
    broken: bool = False
    last_error: str | None = None
    sent: int = 0
    retried: int = 0
    failed: int = 0
    notify_seconds: float | None = None
    reported_at: float = 0.0
    dirty: bool = True


class Dispatcher:
    """Sends what the outbox holds, each receiver on its own worker so one slow one delays no other."""

    def __init__(
        self,
        store: Store,
        notifiers: Mapping[str, Notifier],
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        redact: Callable[[str], str] = lambda text: text,
        rand: Callable[[], float] = random.random,
        keep_history: float = 7 * 86400.0,
    ) -> None:
        self.store = store
        self.notifiers = dict(notifiers)
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self.redact = redact
        self.rand = rand
        self.keep_history = keep_history
        self.health = {name: Health() for name in self.notifiers}
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(8, len(self.notifiers))))
        self._next_due: float | None = None
        self._pruned_at = 0.0
        # Asked right before each send: False once this daemon no longer leads (a fleet's
        # stalled leader waking up mid-delivery sends nothing the new leader also sends).
        self.may_send: Callable[[], bool] = lambda: True

    def deliver_due(self, now: float | None = None) -> list[Sample]:
        """Send every due notification once (digests where allowed); return health samples."""
        now = self.clock() if now is None else now
        pending: dict[str, list[Record]] = defaultdict(list)
        for record in self.store.list_records(OUTBOX):
            pending[record.body["notification"]["receiver"]].append(record)
        for receiver in [r for r in pending if r not in self.notifiers]:
            self._finish(pending.pop(receiver), "failed", "receiver is no longer configured", now)
        jobs = [
            self._pool.submit(self._deliver, name, pending.get(name, []), now)
            for name in self.notifiers
        ]
        for job in jobs:
            job.result()
        left = self.store.list_records(OUTBOX)
        self._next_due = min(
            (
                max(r.body["next_attempt_at"], self.health[receiver].next_allowed_at)
                for r in left
                if (receiver := r.body["notification"]["receiver"]) in self.health
            ),
            default=None,
        )
        if now - self._pruned_at > 3600:
            self._pruned_at = now
            self.store.delete_records(HISTORY, older_than=now - self.keep_history)
            self.store.delete_records(THREADS, older_than=now - self.keep_history)
        waiting = Counter(r.body["notification"]["receiver"] for r in left)
        return self._samples(waiting, now)

    def next_due(self) -> float | None:
        """Return when the next send may happen (a retry or the end of a rate-limit wait)."""
        return self._next_due

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        for notifier in self.notifiers.values():
            notifier.close()

    # -- one receiver ----------------------------------------------------------

    def _deliver(self, name: str, records: list[Record], now: float) -> None:
        """Send this receiver's due records once (one message, or one digest)."""
        if not records:
            return
        health = self.health[name]
        notifier = self.notifiers[name]
        # Only the newest record of each group matters: it carries the group's whole state.
        # What changed in the ones it replaces is told with it, so no change goes untold.
        newest: dict[str, Record] = {}
        for record in sorted(records, key=lambda r: r.key):
            group = record.body["notification"]["group_key"]
            if group in newest:
                older = newest[group]
                record = _carry_changes(older, record)
                self.store.put_records([record])
                self._finish([older], "superseded", "a newer update of the group replaced it", now)
            newest[group] = record
        live = []
        for record in newest.values():
            if now - record.ts > self.policy.give_up_after:
                self._finish([record], "failed", "gave up: undelivered for too long", now)
                health.failed += 1
            else:
                live.append(record)
        due = [r for r in live if r.body["next_attempt_at"] <= now]
        if not due or now < health.next_allowed_at:
            return
        batch = due if notifier.merges and len(due) > 1 else due[:1]
        parts = tuple(Notification.from_json(r.body["notification"]) for r in batch)
        if not self.may_send():
            return
        thread_key = f"{name}/{parts[0].group_key}"
        if getattr(notifier, "threads", False):
            # Where the group's message is, so the receiver updates it instead of adding one.
            found = self.store.get_record(THREADS, thread_key)
            if found is not None:
                parts = (replace(parts[0], thread=dict(found.body)),)
        result = notifier.send(Digest(parts) if len(parts) > 1 else parts[0])
        done = self.clock()
        if result.ok and getattr(notifier, "threads", False):
            if parts[0].status == "resolved":
                self.store.delete_records(THREADS, [thread_key])  # the group is over
            elif result.thread:
                self.store.put_records([Record(THREADS, thread_key, done, dict(result.thread))])
        health.next_allowed_at = done + notifier.min_interval
        health.dirty = True
        if result.ok:
            self._finish(batch, "sent", result.detail, done)
            health.sent += len(batch)
            health.failures_in_row, health.broken, health.last_error = 0, False, None
            health.notify_seconds = max(done - n.first_seen for n in parts)
            log.info("sent to %s: %s", name, "; ".join(n.title for n in parts)[:500])
        else:
            detail = self.redact(result.detail)
            health.failures_in_row += 1
            health.last_error = detail
            if result.permanent:
                self._finish(batch, "failed", detail, done)
                health.failed += len(batch)
                health.broken = True
                log.error("receiver %s refused a notification (not retried): %s", name, detail)
            else:
                self._reschedule(batch, result, detail, done)
                health.retried += len(batch)
                health.broken = health.failures_in_row >= self.policy.broken_after
                if result.retry_after is not None:
                    health.next_allowed_at = max(health.next_allowed_at, done + result.retry_after)
                log.warning("receiver %s failed, will retry: %s", name, detail)

    def _reschedule(self, batch: Sequence[Record], result: Result, detail: str, now: float) -> None:
        updated = []
        for record in batch:
            attempts = int(record.body["attempts"]) + 1
            wait = self.policy.delay(attempts, result, self.rand)
            body = {**record.body, "attempts": attempts, "next_attempt_at": now + wait,
                    "last_error": detail}  # fmt: skip
            updated.append(Record(OUTBOX, record.key, record.ts, body))
        self.store.put_records(updated)

    def _finish(self, batch: Sequence[Record], status: str, detail: str, now: float) -> None:
        """Move records from the outbox to the history with how they ended."""
        history = [
            Record(
                HISTORY, r.key, now, {**r.body, "status": status, "detail": detail, "done_at": now}
            )
            for r in batch
        ]
        self.store.put_records(history)
        self.store.delete_records(OUTBOX, [r.key for r in batch])

    def _samples(self, waiting: Mapping[str, int], now: float) -> list[Sample]:
        out = []
        for name, h in self.health.items():
            if not h.dirty and now - h.reported_at < HEALTH_EVERY:
                continue
            h.dirty, h.reported_at = False, now
            out.append(
                Sample.of(BROKEN, 1 if h.broken else 0, now, note=h.last_error, receiver=name)
            )
            out.append(Sample.of(PENDING, waiting.get(name, 0), now, receiver=name))
            for outcome, count in (("sent", h.sent), ("retried", h.retried), ("failed", h.failed)):
                out.append(Sample.of(NOTIFICATIONS, count, now, receiver=name, outcome=outcome))
            if h.notify_seconds is not None:
                out.append(Sample.of(NOTIFY_SECONDS, h.notify_seconds, now, receiver=name))
                h.notify_seconds = None
        return out
