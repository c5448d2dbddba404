"""Real consumers with the commit habits the field has, each in its own process, and their producers.

A consumer process is one group member; the parent steers it through stdin
and can kill it outright, so every way a consumer ends is the real one:

- ``die``: close the consumer (it commits and leaves the group), then exit;
- ``hang``: stop polling and committing but stay alive, so librdkafka's
  background thread keeps heartbeating and the member keeps its partitions
  (until ``max.poll.interval.ms``), like a consumer stuck in a handler;
- ``crash``: SIGKILL from the parent: no leave, no commit; the coordinator
  drops the member after ``session.timeout.ms``;
- ``resume``: poll again after a hang.

Commit habits (``--commit``): ``each`` (a synchronous commit after every
message), ``auto:SECONDS`` (librdkafka's auto-commit, 5 s by default in the
Java and librdkafka clients), ``every:SECONDS`` (poll continuously, commit
what was processed every so often, as a batching sink does), and
``cron:SECONDS`` (a batch job: join, read everything there is, commit, leave,
sleep, again).

    python -m tests.support.kafka_consumers --bootstrap B --topic T --group G --commit auto:5

prints ``assigned`` once it holds partitions and ``closed`` when it left.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parents[2]


# -- the consumer process -------------------------------------------------------------------


def _settings(args: argparse.Namespace, auto: float | None) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "auto.offset.reset": args.reset,
        "session.timeout.ms": args.session_timeout_ms,
        "fetch.wait.max.ms": 100,
        "enable.auto.commit": auto is not None,
    }
    if auto is not None:
        settings["auto.commit.interval.ms"] = int(auto * 1000)
    return settings


class Commands:
    """Reads the parent's commands from stdin without blocking the poll loop."""

    def __init__(self) -> None:
        self.hung = False
        self.leave = False

    def read(self, wait: float = 0.0) -> None:
        ready, _, _ = select.select([sys.stdin], [], [], wait)
        if not ready:
            return
        line = sys.stdin.readline()
        if not line:  # the parent went away
            self.leave = True
            return
        word = line.strip()
        if word == "hang":
            self.hung = True
        elif word == "resume":
            self.hung = False
        elif word == "die":
            self.leave = True


def _say(word: str) -> None:
    print(word, flush=True)


def run_member(args: argparse.Namespace) -> int:
    from confluent_kafka import Consumer

    kind, _, value = args.commit.partition(":")
    seconds = float(value) if value else 0.0
    if kind == "cron":
        return run_cron(args, seconds)
    consumer = Consumer(_settings(args, seconds if kind == "auto" else None))
    commands = Commands()
    consumer.subscribe(
        [args.topic], on_assign=lambda _c, parts: _say("assigned") if parts else None
    )
    processed = False
    last_commit = time.monotonic()
    while not commands.leave:
        commands.read(0.0)
        if commands.hung:
            commands.read(0.2)  # no poll, no commit: librdkafka's thread still heartbeats
            continue
        message = consumer.poll(0.1)
        if message is not None and message.error() is None:
            if args.work:
                time.sleep(args.work)
            if kind == "each":
                consumer.commit(message, asynchronous=False)
            processed = True
        if kind == "every" and processed and time.monotonic() - last_commit >= seconds:
            with suppress(Exception):  # nothing stored yet after a rebalance
                consumer.commit(asynchronous=False)
            processed, last_commit = False, time.monotonic()
    consumer.close()
    _say("closed")
    return 0


def run_cron(args: argparse.Namespace, every: float) -> int:
    """Join, read what there is, commit, leave; every ``every`` seconds."""
    from confluent_kafka import Consumer

    commands = Commands()
    while not commands.leave:
        started = time.monotonic()
        consumer = Consumer(_settings(args, None))
        assigned = threading.Event()
        consumer.subscribe([args.topic], on_assign=lambda _c, _p, ready=assigned: ready.set())
        reading_since = None
        while not commands.leave:
            message = consumer.poll(0.2)
            if assigned.is_set():
                reading_since = reading_since or time.monotonic()
                # What arrives while it reads is read too; it stops after a few seconds.
                if time.monotonic() - reading_since > 3.0:
                    break
            if message is not None and message.error() is None:
                continue
        with suppress(Exception):
            consumer.commit(asynchronous=False)
        consumer.close()
        _say("ran")
        while not commands.leave and time.monotonic() - started < every:
            commands.read(0.5)
    _say("closed")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--commit", default="each", help="each | auto:S | every:S | cron:S")
    parser.add_argument("--work", type=float, default=0.0, help="seconds of work per message")
    parser.add_argument("--reset", default="latest", help="auto.offset.reset")
    parser.add_argument("--session-timeout-ms", type=int, default=45000)
    return run_member(parser.parse_args())


# -- the parent's handle ---------------------------------------------------------------------


class ConsumerProcess:
    """One consumer group member in its own process, steered from here."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group: str,
        commit: str = "each",
        work: float = 0.0,
        session_timeout_ms: int = 45000,
        reset: str = "latest",
    ) -> None:
        self.group = group
        self.commit = commit
        self.stopped_at: float | None = None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.kafka_consumers", "--bootstrap", bootstrap,
             "--topic", topic, "--group", group, "--commit", commit, "--work", str(work),
             "--session-timeout-ms", str(session_timeout_ms), "--reset", reset],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        self._lines: list[str] = []
        self._seen = threading.Condition()
        self._reader = threading.Thread(target=self._read, args=(self.proc.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            with self._seen:
                self._lines.append(line.strip())
                self._seen.notify_all()

    def wait_for(self, word: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        with self._seen:
            while word not in self._lines:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise RuntimeError(f"consumer of {self.group} did not say {word!r}")
                self._seen.wait(min(left, 0.5))

    def _send(self, word: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(word + "\n")
        self.proc.stdin.flush()

    def hang(self) -> float:
        """Stop polling and committing, keep the membership; return when."""
        self._send("hang")
        self.stopped_at = time.time()
        return self.stopped_at

    def resume(self) -> None:
        self._send("resume")
        self.stopped_at = None

    def die(self) -> float:
        """Close (commit and leave the group); return when the close began."""
        self.stopped_at = time.time()
        self._send("die")
        return self.stopped_at

    def crash(self) -> float:
        """SIGKILL the process: no leave, no last commit; return when."""
        self.stopped_at = time.time()
        self.proc.send_signal(signal.SIGKILL)
        return self.stopped_at

    def close(self) -> None:
        if self.proc.poll() is None:
            with suppress(BrokenPipeError, OSError):
                self._send("die")
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdin is not None:
            with suppress(OSError):
                self.proc.stdin.close()


class Producing:
    """Writes to a topic in a thread: ``pattern(t)`` gives how many messages to write at second t."""

    def __init__(self, bootstrap: str, topic: str, pattern: Callable[[float], int],
                 tick: float = 0.5, partitions: int = 1) -> None:  # fmt: skip
        from confluent_kafka import Producer

        self.producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5})
        self.topic, self.pattern, self.tick, self.partitions = topic, pattern, tick, partitions
        self.started = time.time()
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for _ in range(self.pattern(time.time() - self.started)):
                self.producer.produce(self.topic, value=b"m%d" % self.sent,
                                      partition=self.sent % self.partitions)  # fmt: skip
                self.sent += 1
            self.producer.poll(0)
            self._stop.wait(self.tick)
        self.producer.flush(10)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def steady(per_second: float, tick: float = 0.5) -> Callable[[float], int]:
    """Return a pattern writing about ``per_second`` messages a second."""
    acc = {"n": 0.0}

    def pattern(_t: float) -> int:
        acc["n"] += per_second * tick
        whole = int(acc["n"])
        acc["n"] -= whole
        return whole

    return pattern


if __name__ == "__main__":
    raise SystemExit(main())
