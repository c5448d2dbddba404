"""Prometheus remote write: every sample the store takes is also sent to a remote endpoint.

The standard protocol (remote write 1.0): a ``WriteRequest`` protobuf,
snappy block-compressed, POSTed with ``Content-Encoding: snappy``. The
messages are declared here with the protobuf runtime (no generated code).

``RemoteWriteStore`` wraps a backend: writes go to the backend first and,
once stored, into a bounded buffer that a sender thread drains in batches.
A receiver answering 5xx or 429 (or not answering) is retried with
exponential backoff and nothing is lost until the buffer is full (the bound
counts samples waiting; one batch in flight comes on top); past the bound the
oldest samples go and ``lagwatch_remote_write_dropped_samples_total``
counts them. A 4xx other than 429 means the receiver will never take that
batch: it is dropped and counted. The sender's own figures are written to the
store with each batch as ``lagwatch_remote_write_*`` samples.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import cramjam
import httpx
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from lagwatch.store.config import RemoteWriteConfig
from lagwatch.store.protocol import Aggregation, Store
from lagwatch.store.sample import LatestChanges, LatestValue, Record, Sample, Series

log = logging.getLogger("lagwatch.store.remote_write")

SENT = "lagwatch_remote_write_sent_samples_total"
DROPPED = "lagwatch_remote_write_dropped_samples_total"
UP = "lagwatch_remote_write_up"

BACKOFF_MIN = 0.5


def _messages() -> tuple[Any, Any, Any, Any]:
    """Declare prometheus.WriteRequest, TimeSeries, Label and Sample (prompb/types.proto)."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="lagwatch_prompb.proto", package="prometheus", syntax="proto3"
    )
    f = descriptor_pb2.FieldDescriptorProto
    repeated, optional = f.LABEL_REPEATED, f.LABEL_OPTIONAL

    def message(name: str, *fields: tuple[str, int, int, int, str]) -> None:
        msg = proto.message_type.add(name=name)
        for fname, number, label, ftype, type_name in fields:
            field = msg.field.add(name=fname, number=number, label=label, type=ftype)
            if type_name:
                field.type_name = type_name

    message(
        "Label", ("name", 1, optional, f.TYPE_STRING, ""), ("value", 2, optional, f.TYPE_STRING, "")
    )
    message(
        "Sample",
        ("value", 1, optional, f.TYPE_DOUBLE, ""),
        ("timestamp", 2, optional, f.TYPE_INT64, ""),
    )
    message(
        "TimeSeries",
        ("labels", 1, repeated, f.TYPE_MESSAGE, ".prometheus.Label"),
        ("samples", 2, repeated, f.TYPE_MESSAGE, ".prometheus.Sample"),
    )
    message("WriteRequest", ("timeseries", 1, repeated, f.TYPE_MESSAGE, ".prometheus.TimeSeries"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    get = message_factory.GetMessageClass
    return tuple(
        get(pool.FindMessageTypeByName(f"prometheus.{n}"))
        for n in ("WriteRequest", "TimeSeries", "Label", "Sample")
    )


WriteRequest, TimeSeries, Label, PromSample = _messages()


def encode(samples: Sequence[Sample]) -> bytes:
    """Return the snappy-compressed WriteRequest of ``samples``, one TimeSeries per series."""
    by_series: dict[tuple[str, tuple[tuple[str, str], ...]], list[Sample]] = {}
    for s in samples:
        by_series.setdefault((s.name, s.labels), []).append(s)
    request = WriteRequest()
    for (name, labels), points in by_series.items():
        series = request.timeseries.add()
        # Label names sorted, __name__ first (it sorts before lower-case names).
        for key, value in sorted([("__name__", name), *labels]):
            series.labels.add(name=key, value=value)
        for p in sorted(points, key=lambda p: p.ts):
            series.samples.add(value=p.value, timestamp=int(round(p.ts * 1000)))
    return bytes(cramjam.snappy.compress_raw(request.SerializeToString()))


def decode(body: bytes) -> list[Sample]:
    """Return the samples of a snappy-compressed WriteRequest (for tests and debugging)."""
    request = WriteRequest()
    request.ParseFromString(bytes(cramjam.snappy.decompress_raw(body)))
    out = []
    for series in request.timeseries:
        labels = {label.name: label.value for label in series.labels}
        name = labels.pop("__name__")
        for p in series.samples:
            out.append(Sample.of(name, p.value, p.timestamp / 1000, **labels))
    return out


class RemoteWriter:
    """A bounded buffer of samples and the thread that sends it to one endpoint."""

    def __init__(self, config: RemoteWriteConfig, clock: Any = time.time) -> None:
        self.config = config
        self.clock = clock
        self._buffer: deque[Sample] = deque()
        self._inflight: list[Sample] = []  # taken from the buffer, sent until it is accepted
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self.sent = 0
        self.dropped = 0
        self.up = 1
        self.last_error: str | None = None
        headers = {k: v.get_secret_value() for k, v in config.headers.items()}
        headers.update(
            {
                "Content-Encoding": "snappy",
                "Content-Type": "application/x-protobuf",
                "User-Agent": "lagwatch",
                "X-Prometheus-Remote-Write-Version": "0.1.0",
            }
        )
        auth = None
        if config.basic_auth is not None:
            auth = (config.basic_auth.username, config.basic_auth.password.get_secret_value())
        self._client = httpx.Client(headers=headers, auth=auth, timeout=config.timeout)
        self._thread = threading.Thread(target=self._run, name="remote-write", daemon=True)
        self._thread.start()

    # -- buffer ----------------------------------------------------------------

    def add(self, samples: Sequence[Sample]) -> None:
        """Queue samples; past the bound the oldest go and are counted."""
        with self._lock:
            self._buffer.extend(samples)
            over = len(self._buffer) - self.config.buffer_samples
            if over > 0:
                for _ in range(over):
                    self._buffer.popleft()
                self.dropped += over
                log.error(
                    "remote write buffer full: dropped the %d oldest samples (%d in all)",
                    over,
                    self.dropped,
                )
            self._lock.notify()

    @property
    def buffered(self) -> int:
        return len(self._buffer) + len(self._inflight)

    def health(self, now: float) -> list[Sample]:
        """Return the sender's figures as samples."""
        return [
            Sample.of(SENT, self.sent, now),
            Sample.of(DROPPED, self.dropped, now),
            Sample.of(UP, self.up, now, note=self.last_error),
        ]

    # -- sending ---------------------------------------------------------------

    def _take(self) -> list[Sample]:
        """Move up to one batch from the buffer's head to the in-flight batch and return it."""
        with self._lock:
            if not self._inflight:
                while not self._buffer and not self._stop.is_set():
                    self._lock.wait(1.0)
                take = min(self.config.batch, len(self._buffer))
                self._inflight = [self._buffer.popleft() for _ in range(take)]
            return self._inflight

    def _done(self, sent: bool) -> None:
        with self._lock:
            if sent:
                self.sent += len(self._inflight)
            else:
                self.dropped += len(self._inflight)
            self._inflight = []
            self._lock.notify_all()

    def send_once(self, batch: list[Sample]) -> bool | None:
        """POST one batch: True sent, False retry later, None refused for good."""
        try:
            response = self._client.post(self.config.url.get_secret_value(), content=encode(batch))
        except httpx.HTTPError as exc:
            self._failed(f"{type(exc).__name__}: {exc}")
            return False
        if response.status_code < 300:
            if self.up == 0:
                log.warning("remote write is back (%d samples waiting)", self.buffered)
            self.up, self.last_error = 1, None
            return True
        message = f"HTTP {response.status_code}: {response.text[:200]}"
        if response.status_code == 429 or response.status_code >= 500:
            self._failed(message)
            return False
        log.error("remote write refused a batch of %d samples for good: %s", len(batch), message)
        self.last_error = message
        return None

    def _failed(self, message: str) -> None:
        if self.up == 1 or self.last_error != message:
            log.error("remote write failing, retrying with backoff: %s", message)
        self.up, self.last_error = 0, message

    def _run(self) -> None:
        backoff = BACKOFF_MIN
        while not self._stop.is_set():
            batch = self._take()
            if not batch:
                continue
            result = self.send_once(batch)
            if result is False:
                self._stop.wait(min(backoff, self.config.max_backoff))
                backoff = min(backoff * 2, self.config.max_backoff)
                continue
            backoff = BACKOFF_MIN
            self._done(bool(result))

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the buffer to empty; return whether it did."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._buffer or self._inflight:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(min(left, 0.2))
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Send what is buffered for up to ``timeout`` seconds, then stop."""
        self.drain(timeout)
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        self._thread.join(timeout=self.config.timeout + 1)
        self._client.close()


class RemoteWriteStore:
    """A Store that also sends every stored sample to a remote-write endpoint."""

    def __init__(self, inner: Store, config: RemoteWriteConfig) -> None:
        self.inner = inner
        self.writer = RemoteWriter(config)

    def __repr__(self) -> str:
        return f"RemoteWriteStore({self.inner!r})"

    def write(self, samples: Sequence[Sample]) -> None:
        # An empty write still records the sender's figures. Stored first: a write
        # the store refuses is retried by the caller, so it reaches the remote once,
        # when the store has it.
        health = self.writer.health(max((s.ts for s in samples), default=time.time()))
        self.inner.write([*samples, *health])
        self.writer.add(samples)

    def latest(
        self, name: str | None = None, matchers: Mapping[str, str] | None = None
    ) -> list[LatestValue]:
        return self.inner.latest(name, matchers)

    def latest_since(
        self, cursor: int | None = None, names: Collection[str] | None = None
    ) -> LatestChanges:
        return self.inner.latest_since(cursor, names)

    def query_range(
        self,
        name: str,
        matchers: Mapping[str, str] | None,
        start: float,
        end: float,
        step: float = 0.0,
        agg: Aggregation = "avg",
        max_points: int = 2000,
    ) -> list[Series]:
        return self.inner.query_range(name, matchers, start, end, step, agg, max_points)

    def maintain(self, now: float) -> None:
        self.inner.maintain(now)

    def put_records(self, records: Sequence[Record]) -> None:
        self.inner.put_records(records)

    def get_record(self, namespace: str, key: str) -> Record | None:
        return self.inner.get_record(namespace, key)

    def list_records(
        self,
        namespace: str,
        since: float | None = None,
        until: float | None = None,
        limit: int | None = None,
        newest_first: bool = False,
    ) -> list[Record]:
        return self.inner.list_records(namespace, since, until, limit, newest_first)

    def delete_records(
        self, namespace: str, keys: Sequence[str] = (), older_than: float | None = None
    ) -> int:
        return self.inner.delete_records(namespace, keys, older_than)

    def try_lock(self, name: str) -> bool:
        return self.inner.try_lock(name)

    def close(self) -> None:
        self.writer.close()
        self.inner.close()
