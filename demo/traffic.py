"""The demo's application side: an orders table and its writer, a topic, two consumer groups.

None of this is lagwatch: it is the traffic lagwatch watches. The writer
inserts orders into PostgreSQL as an application would; the CDC (Debezium on
Kafka Connect, or the relay: a separate `lagwatch tap` process) puts them on
the topic; the consumer groups
read the topic and commit what they processed. One group can be told to
stall: it pauses its partitions but keeps polling, so it stays a member that
holds its partitions and commits nothing (a hung consumer), then resumes and
catches up.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
import time

import psycopg
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from psycopg import sql

from lagwatch.collectors.postgres.pipeline import init_postgres
from lagwatch.collectors.probe.table import TableName
from lagwatch.collectors.tap.change import Backoff

log = logging.getLogger("lagwatch.demo")

PARTITIONS = 3
RETENTION_MS = 24 * 3600 * 1000
PROBE_TABLE = TableName("lagwatch", "probe")
CUSTOMERS = ("acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "tyrell")

ORDERS_DDL = """CREATE TABLE IF NOT EXISTS {table} (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer   text           NOT NULL,
    amount     numeric(10, 2) NOT NULL,
    created_at timestamptz    NOT NULL DEFAULT now()
)"""


def prepare_database(
    admin_dsn: str, probe_dsn: str, table: TableName, publication: str, reader: str | None = None
) -> None:
    """Create the orders table, the probe table and a publication carrying both (idempotent);
    with ``reader`` (Debezium's role), let it read both tables.

    The probe table and publication are made by `lagwatch probe init`'s code
    with the probe role; the table's owner (here the admin) then adds the
    orders table to the publication, as docs/sources/probe.md says for an outbox.
    """
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=10) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(table.schema)))
        conn.execute(sql.SQL(ORDERS_DDL).format(table=table.pg()))
        # The relay's slot is temporary: rows of earlier runs are never relayed, so drop them.
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE created_at < now() - interval '1 hour'").format(
                table.pg()
            )
        )
    publish(admin_dsn, probe_dsn, table, publication)
    if reader is None:
        return
    # Debezium's role reads each captured table's columns (pgoutput sends only the changes).
    role = sql.Identifier(reader)
    for dsn, owned in ((admin_dsn, table), (probe_dsn, PROBE_TABLE)):
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            schema = sql.Identifier(owned.schema)
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, role))
            conn.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(owned.pg(), role))


def publish(admin_dsn: str, probe_dsn: str, table: TableName, publication: str) -> None:
    """Create ``publication`` for the probe table (as the probe role) and add the orders table
    (as its owner) unless they are there."""
    init_postgres(probe_dsn, PROBE_TABLE, publication)
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=10) as conn:
        published = conn.execute(
            "SELECT 1 FROM pg_publication_tables "
            "WHERE pubname = %s AND schemaname = %s AND tablename = %s",
            (publication, table.schema, table.name),
        ).fetchone()
        if not published:
            conn.execute(
                sql.SQL("ALTER PUBLICATION {} ADD TABLE {}").format(
                    sql.Identifier(publication), table.pg()
                )
            )


def delete_topic(bootstrap: str, topic: str, timeout: float = 30.0) -> None:
    """Delete ``topic`` (gone already is fine)."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.delete_topics([topic], request_timeout=timeout).values():
        exc = future.exception(timeout=timeout)
        if exc is not None and exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
            raise exc


def prepare_topic(bootstrap: str, topic: str, timeout: float = 30.0) -> None:
    """Create ``topic`` (3 partitions, one day's retention) unless it exists; wait until it shows."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    future = admin.create_topics(
        [NewTopic(topic, PARTITIONS, 1, config={"retention.ms": str(RETENTION_MS)})],
        request_timeout=timeout,
    )[topic]
    try:
        future.result(timeout=timeout)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise
    deadline = time.monotonic() + timeout
    while topic not in admin.list_topics(timeout=timeout).topics:
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic {topic} did not appear within {timeout:g}s")
        time.sleep(0.2)


class OrderWriter:
    """Inserts ``rate`` orders a second, one autocommitted row each, until stopped.

    Failure policy: a lost connection is logged and retried with backoff; the
    demo goes on (the probe then shows the source as the stale hop).
    """

    def __init__(self, dsn: str, table: TableName, rate: float) -> None:
        self.dsn = dsn
        self.table = table
        self.rate = rate
        self.written = 0

    def run(self, stop: threading.Event) -> None:
        insert = sql.SQL("INSERT INTO {} (customer, amount) VALUES (%s, %s)").format(
            self.table.pg()
        )
        backoff = Backoff()
        while not stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=10) as conn:
                    backoff.reset()
                    while not stop.wait(random.expovariate(self.rate)):
                        amount = round(random.uniform(5, 500), 2)
                        conn.execute(insert, (random.choice(CUSTOMERS), amount))
                        self.written += 1
            except psycopg.Error as exc:
                log.warning("demo order writer: %s; retrying", str(exc).strip())
                stop.wait(backoff.next())


class DemoGroup:
    """One consumer group: ``members`` consumers in threads, each committing every message.

    ``work`` is the time one message takes to process, so a group that
    stalled takes a visible while to catch up.
    """

    def __init__(self, bootstrap: str, topic: str, group: str, members: int, work: float) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.group = group
        self.members = members
        self.work = work
        self.processed = 0
        self.assigned = threading.Event()
        self.stalled = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self, stop: threading.Event) -> None:
        for index in range(self.members):
            thread = threading.Thread(
                target=self._member, args=(index, stop), name=f"demo:{self.group}-{index}"
            )
            thread.start()
            self._threads.append(thread)

    def join(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout)

    def _member(self, index: int, stop: threading.Event) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": self.group,
                "client.id": f"{self.group}-{index}",
                "enable.auto.commit": False,
                # A new group starts at the end: the demo is about what happens from now on.
                "auto.offset.reset": "latest",
                "session.timeout.ms": 10000,
                "fetch.wait.max.ms": 100,
            }
        )
        consumer.subscribe([self.topic], on_assign=lambda _c, _p: self.assigned.set())
        paused: set[tuple[str, int]] = set()
        try:
            while not stop.is_set():
                self._pause_or_resume(consumer, paused)
                message = consumer.poll(0.2)
                if message is None:
                    continue
                if message.error() is not None:
                    log.warning("demo consumer %s: %s", self.group, message.error())
                    continue
                self._process(message.value())
                consumer.commit(message=message, asynchronous=False)
                with self._lock:
                    self.processed += 1
        except KafkaException as exc:
            log.warning("demo consumer %s stopped: %s", self.group, exc)
        finally:
            # Leaves the group at once, instead of after the session timeout.
            with contextlib.suppress(KafkaException, RuntimeError):
                consumer.close()

    def _pause_or_resume(self, consumer: Consumer, paused: set[tuple[str, int]]) -> None:
        """Keep every assigned partition paused while stalled (also after a rebalance)."""
        if self.stalled.is_set():
            new = [tp for tp in consumer.assignment() if (tp.topic, tp.partition) not in paused]
            if new:
                consumer.pause(new)
                paused.update((tp.topic, tp.partition) for tp in new)
        elif paused:
            consumer.resume([TopicPartition(t, p) for t, p in paused])
            paused.clear()

    def _process(self, value: bytes | None) -> None:
        if value:
            json.loads(value)
        if self.work:
            time.sleep(self.work)
