"""A throwaway two-node Kafka (KRaft) under a tmp dir, for tests that must stop a broker.

Node 1 is controller and broker, node 2 only a broker. Both use the devstack's
Kafka jars (LAGWATCH_KAFKA_LIBS) and free loopback ports; the shared devstack
broker is never touched.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import IO

from tests.support.ports import free_port

COMMON = """
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
controller.quorum.voters=1@127.0.0.1:{controller}
log.dirs={data}
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
"""


class PrivateKafka:
    """Two Kafka nodes in ``root``; ``bootstrap`` reaches node 1."""

    def __init__(self, root: Path, libs: str) -> None:
        self.root = root
        self.libs = libs
        self.controller = free_port()
        self.ports = {1: free_port(), 2: free_port()}
        self.bootstrap = f"127.0.0.1:{self.ports[1]}"
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.logs: dict[int, IO[bytes]] = {}
        cluster_id = self._java("kafka.tools.StorageTool", "random-uuid").strip()
        for node in (1, 2):
            props = self._write_props(node)
            self._java(
                "kafka.tools.StorageTool",
                "format",
                "--config",
                str(props),
                "--cluster-id",
                cluster_id,
            )

    def _write_props(self, node: int) -> Path:
        data = self.root / f"node{node}"
        data.mkdir(parents=True, exist_ok=True)
        if node == 1:
            roles = "process.roles=broker,controller\n"
            listeners = f"listeners=PLAINTEXT://127.0.0.1:{self.ports[1]},CONTROLLER://127.0.0.1:{self.controller}\n"
        else:
            roles = "process.roles=broker\n"
            listeners = f"listeners=PLAINTEXT://127.0.0.1:{self.ports[2]}\n"
        text = (
            f"node.id={node}\n"
            + roles
            + listeners
            + f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.ports[node]}\n"
            + COMMON.format(controller=self.controller, data=data / "log")
        )
        props = self.root / f"node{node}.properties"
        props.write_text(text)
        return props

    def _java(self, main: str, *args: str) -> str:
        out = subprocess.run(
            [
                "java",
                "-Xmx256m",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-cp",
                f"{self.libs}/*",
                main,
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if out.returncode != 0:
            raise RuntimeError(f"{main} {' '.join(args)} failed: {out.stderr[-2000:]}")
        return out.stdout

    def start(self, node: int, timeout: float = 90) -> None:
        log = open(self.root / f"node{node}.out", "ab")  # noqa: SIM115 - closed in kill()
        self.logs[node] = log
        self.procs[node] = subprocess.Popen(
            [
                "java",
                "-Xms64m",
                "-Xmx384m",
                "-XX:+UseSerialGC",
                "-Djava.awt.headless=true",
                f"-Dkafka.logs.dir={self.root / f'logs{node}'}",
                "-cp",
                f"{self.libs}/*",
                "kafka.Kafka",
                str(self.root / f"node{node}.properties"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.ports[node]), timeout=1).close()
                return
            except OSError:
                if self.procs[node].poll() is not None or time.monotonic() > deadline:
                    tail = (self.root / f"node{node}.out").read_text(errors="replace")[-3000:]
                    raise RuntimeError(
                        f"private Kafka node {node} did not start:\n{tail}"
                    ) from None
                time.sleep(0.5)

    def kill(self, node: int) -> None:
        """Stop a node the hard way, as a crash would."""
        proc = self.procs.pop(node, None)
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
        log = self.logs.pop(node, None)
        if log is not None:
            log.close()

    def close(self) -> None:
        for node in list(self.procs):
            self.kill(node)
