"""Remote write: what the store takes reaches a real VictoriaMetrics, and a failing receiver loses nothing within the bound."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lagwatch.collectors.runner import Runner
from lagwatch.store import Sample, StoreConfig, open_store
from lagwatch.store.config import RemoteWriteConfig
from lagwatch.store.remote_write import DROPPED, SENT, UP, RemoteWriteStore, decode
from tests.support.receivers import FakeReceiver

FAIL = (500, "boom", {})
OK = (204, "", {})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[str]:
    """A private VictoriaMetrics (Debian's victoria-metrics) on a free loopback port."""
    binary = shutil.which("victoria-metrics")
    assert binary, "victoria-metrics is not installed: run devstack/install"
    port = _free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"-storageDataPath={tmp_path / 'vm'}",
            f"-httpListenAddr=127.0.0.1:{port}",
            "-retentionPeriod=10y",
            "-search.latencyOffset=0s",
            "-search.disableCache",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 30
        while True:
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.time() < deadline, "victoria-metrics did not start"
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_samples_written_through_the_runner_arrive_in_victoriametrics_as_stored(
    tmp_path: Path, victoria: str
) -> None:
    """Given a SQLite store with remote_write pointing at VictoriaMetrics, fed by the runner."""
    config = StoreConfig.model_validate(
        {
            "url": f"sqlite:///{tmp_path / 'lagwatch.db'}",
            "remote_write": {"url": f"{victoria}/api/v1/write", "batch": 70},
        }
    )
    store = open_store(config)
    assert isinstance(store, RemoteWriteStore)
    runner = Runner(store)
    now = float(int(time.time()))
    t0 = now - 600
    for step in range(20):  # 20 cycles of 3 partitions' lag, 10 s apart
        runner.submit(
            [
                Sample.of(
                    "lagwatch_test_lag_messages",
                    step * 10 + p,
                    t0 + step * 10,
                    cluster="c1",
                    group="g",
                    partition=str(p),
                )
                for p in range(3)
            ]  # fmt: skip
        )
    assert store.writer.drain(30)
    store.write([])  # one more write records the sender's figures
    sent = store.writer.sent
    stored = {
        s.label_dict["partition"]: s.points
        for s in store.query_range("lagwatch_test_lag_messages", None, t0, now, max_points=10**5)
    }
    store.close()
    assert len(stored) == 3 and all(len(points) == 20 for points in stored.values())

    # When VictoriaMetrics is asked back through its Prometheus query API
    httpx.get(f"{victoria}/internal/force_flush", timeout=10)
    answer = httpx.get(
        f"{victoria}/api/v1/query",
        params={"query": 'lagwatch_test_lag_messages{cluster="c1"}[15m]', "time": str(now)},
        timeout=10,
    ).json()
    assert answer["status"] == "success", answer
    remote = {
        r["metric"]["partition"]: [(float(ts), float(v)) for ts, v in r["values"]]
        for r in answer["data"]["result"]
    }
    # Then it holds exactly what lagwatch stored: same series, labels, timestamps, values
    assert remote == stored
    [series] = [r for r in answer["data"]["result"] if r["metric"]["partition"] == "0"]
    assert series["metric"] == {
        "__name__": "lagwatch_test_lag_messages",
        "cluster": "c1",
        "group": "g",
        "partition": "0",
    }
    # And the sender's own figures are in the store (and not sent: they are about the sender)
    reader = open_store(config, read_only=True)
    figures = {v.name: v.value for v in reader.latest() if v.name.startswith("lagwatch_remote")}
    reader.close()
    assert figures[UP] == 1 and figures[DROPPED] == 0 and figures[SENT] == sent >= 60


def test_receiver_answering_500_for_a_while_loses_nothing_within_the_bound(
    tmp_path: Path,
) -> None:
    """Given a receiver that answers 500 eight times (then 429 once) before it accepts."""
    with FakeReceiver(default=OK) as receiver:
        receiver.answer(*[FAIL] * 8, (429, "slow down", {"Retry-After": "1"}))
        store = open_store(
            StoreConfig.model_validate(
                {
                    "url": f"sqlite:///{tmp_path / 'lagwatch.db'}",
                    "remote_write": {
                        "url": receiver.url,
                        "batch": 50,
                        "buffer_samples": 1000,
                        "max_backoff": "0.3s",
                        "headers": {"X-Scope-OrgID": "team-a"},
                        "basic_auth": {"username": "lw", "password": "secret"},
                    },
                }
            )
        )
        assert isinstance(store, RemoteWriteStore)
        written = [
            Sample.of("lagwatch_test_value", i, 1_700_000_000.0 + i, series=str(i % 7))
            for i in range(600)
        ]
        for i in range(0, 600, 100):
            store.write(written[i : i + 100])
        first = receiver.wait_for(10, timeout=20)
        assert [r.status for r in first[:9]] == [500] * 8 + [429]
        assert len({r.raw for r in first[:10]}) == 1  # the same first batch, retried
        # When it accepts again, everything arrives once, in order, and nothing is dropped
        assert store.writer.drain(30)
        accepted = [r for r in receiver.received if r.status < 300]
        got = [s for r in accepted for s in decode(r.raw)]
        assert sorted(got, key=lambda s: s.ts) == written
        assert len(got) == len(written)  # nothing sent twice
        assert store.writer.sent == 600 and store.writer.dropped == 0 and store.writer.up == 1
        headers = accepted[0].headers
        assert headers["Content-Encoding"] == "snappy"
        assert headers["Content-Type"] == "application/x-protobuf"
        assert headers["X-Prometheus-Remote-Write-Version"] == "0.1.0"
        assert headers["X-Scope-OrgID"] == "team-a"
        assert headers["Authorization"].startswith("Basic ")
        store.close()


def test_past_the_bound_the_oldest_samples_go_and_are_counted(tmp_path: Path) -> None:
    """Given a receiver that keeps failing while 1,000 samples arrive into a 200-sample buffer."""
    with FakeReceiver(default=FAIL) as receiver:
        store = open_store(
            StoreConfig.model_validate(
                {
                    "url": f"sqlite:///{tmp_path / 'lagwatch.db'}",
                    "remote_write": {
                        "url": receiver.url,
                        "batch": 50,
                        "buffer_samples": 200,
                        "max_backoff": "0.2s",
                    },
                }
            )
        )
        assert isinstance(store, RemoteWriteStore)
        written = [Sample.of("lagwatch_test_value", i, 1_700_000_000.0 + i) for i in range(1000)]
        for i in range(0, 1000, 100):
            store.write(written[i : i + 100])
        assert store.writer.dropped >= 1000 - 200 - 50
        # When the receiver recovers, the newest samples arrive and the rest are counted as dropped
        receiver.default = OK
        assert store.writer.drain(30)
        got = [s for r in receiver.received if r.status < 300 for s in decode(r.raw)]
        assert store.writer.sent == len(got) and store.writer.dropped + len(got) == 1000
        assert got == sorted(got, key=lambda s: s.ts) and got[-200:] == written[-200:]
        store.write([Sample.of("lagwatch_test_value", 1, 1_700_001_000.0)])
        latest = {v.name: v.value for v in store.latest()}
        assert latest[DROPPED] == store.writer.dropped and latest[UP] == 1
        store.close()


def test_remote_write_is_off_by_default_and_validated() -> None:
    assert StoreConfig().remote_write is None
    with pytest.raises(ValueError, match="http"):
        RemoteWriteConfig.model_validate({"url": "vm:8428/api/v1/write"})
