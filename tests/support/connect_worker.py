"""A second, private Kafka Connect worker a test starts and kills, never the shared one.

Same jars and plugins as the devstack worker (``devstack/lib.sh``: Connect 4.3.1, Debezium
PostgreSQL 3.6.1 and MariaDB 3.5.0, ``plugin.discovery=service_load``), on a free port, in
its own group with its own three internal topics on the devstack broker, so killing it
touches nothing another test uses. ``kill`` is SIGKILL of the one process it started.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from tests.support.connect import ENV, delete_topics, env
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]


def _cache() -> Path:
    return Path(os.environ.get("LAGWATCH_CACHE") or Path.home() / ".cache" / "lagwatch")


class PrivateWorker:
    """Use as ``with PrivateWorker("x1f3") as worker:``; ``worker.url`` is its REST URL."""

    def __init__(self, suffix: str, flush_ms: int = 1000, heap: str = "256m") -> None:
        self.heap = heap
        cache = _cache()
        connect = ENV.get("LAGWATCH_CONNECT_VERSION", "4.3.1")
        self.libs = cache / f"connect-{connect}" / "libs"
        plugins = [
            cache / "debezium-postgres-3.6.1.Final" / "plugins",
            cache / "debezium-mariadb-3.5.0.Final" / "plugins",
        ]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.group = f"lw-test-connect-{suffix}"
        self.topics = [f"{self.group}-{kind}" for kind in ("configs", "offsets", "status")]
        self.offsets_topic = self.topics[1]
        self.dir = Path(tempfile.mkdtemp(prefix="lagwatch-connect-"))
        properties = {
            "bootstrap.servers": env("KAFKA_BOOTSTRAP"),
            "group.id": self.group,
            "listeners": self.url,
            "rest.advertised.host.name": "127.0.0.1",
            "rest.advertised.port": str(self.port),
            "plugin.path": ",".join(str(p) for p in plugins),
            "plugin.discovery": "service_load",
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "config.storage.topic": self.topics[0],
            "offset.storage.topic": self.topics[1],
            "status.storage.topic": self.topics[2],
            "config.storage.replication.factor": "1",
            "offset.storage.replication.factor": "1",
            "status.storage.replication.factor": "1",
            "offset.storage.partitions": "3",
            "status.storage.partitions": "1",
            "offset.flush.interval.ms": str(flush_ms),
            "scheduled.rebalance.max.delay.ms": "0",
            "connector.client.config.override.policy": "All",
            "producer.buffer.memory": "8388608",
        }
        self.properties = self.dir / "worker.properties"
        self.properties.write_text("".join(f"{k}={v}\n" for k, v in properties.items()))
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 120.0) -> None:
        log = (self.dir / "worker.out").open("ab")
        self.process = subprocess.Popen(
            [
                "java",
                "-Xms64m",
                f"-Xmx{self.heap}",
                "-XX:+UseSerialGC",
                "-Djava.awt.headless=true",
                f"-Dkafka.logs.dir={self.dir}",
                f"-Dlog4j2.configurationFile=file:{ROOT / 'devstack' / 'conf' / 'connect-log4j2.xml'}",
                "-cp",
                f"{self.libs}/*",
                "org.apache.kafka.connect.cli.ConnectDistributed",
                str(self.properties),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"private Connect worker exited: {self.tail()}")
            try:
                plugins = httpx.get(f"{self.url}/connector-plugins", timeout=2).text
                health = httpx.get(f"{self.url}/health", timeout=2)
                if "PostgresConnector" in plugins and health.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"private Connect worker not ready on {self.url}: {self.tail()}")

    def kill(self) -> None:
        """SIGKILL the worker this object started (and wait for it)."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def tail(self) -> str:
        path = self.dir / "connect.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        out = self.dir / "worker.out"
        text += out.read_text(errors="replace") if out.exists() else ""
        return text[-3000:]

    def __enter__(self) -> PrivateWorker:
        self.start()
        return self

    def cleanup(self) -> None:
        """Delete the worker's internal topics and its folder (after ``kill``)."""
        delete_topics(self.topics)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __exit__(self, *exc_info: object) -> None:
        self.kill()
        self.cleanup()
