"""A stopped group stays STOP when a consumer joins and commits nothing: KafkaGroupStopped
fires once and is not resolved (issue 11, finding 6), on the devstack broker.

In a daemon run KafkaGroupStopped was sent RESOLVED and FIRING again for the same stopped
groups; one way was a consumer joining the stopped group, taking its partition and
committing nothing: the partition turned from STOP to STALL (resolving the page and raising
another) while its commit had not moved. ``tests/unit/test_kafka_flap.py`` replays every such
way; this is the one a real consumer group can be made to do.
"""

from __future__ import annotations

import time

from lagwatch.alerts.builtin import builtin_rules
from lagwatch.alerts.replay import replay
from lagwatch.collectors.kafka.verdict import Status
from lagwatch.store import Sample
from tests.integration.kafka_lag_helpers import (
    KafkaScratch,
    background,
    commit_each,
    consume_loop,
    find,
    kafka_scratch,  # noqa: F401 - the kafka fixture
    produce_every,
    wait_until,
)

WINDOW = 20.0
INTERVAL = 2.0
PAGES = ("KafkaGroupStopped", "KafkaGroupStalled")


def status_of(samples: list[Sample], group: str) -> tuple[Status | None, str]:
    found = find(samples, "lagwatch_kafka_group_status", group=group)
    return (Status(int(found[0].value)), found[0].note or "") if found else (None, "")


def test_a_stopped_group_a_consumer_joins_without_committing_stays_stopped(
    kafka: KafkaScratch,
) -> None:
    topic = kafka.topic("held", 1)
    group = kafka.group("held")
    collector = kafka.collector(window=f"{WINDOW:g}s", interval=f"{INTERVAL:g}s")
    written: list[Sample] = []

    def collect() -> tuple[Status | None, str]:
        samples = list(collector.collect())
        written.extend(s for s in samples if isinstance(s, Sample))
        return status_of(samples, group)

    with background(produce_every, kafka.producer(), topic, 0.5):
        # Given a consumer that kept up, then stopped: the group is judged STOP
        consumer = kafka.consumer(group)
        consumer.subscribe([topic])
        commit_each(consumer, 5, collect)
        consumer.close()
        wait_until(lambda: collect()[0] == Status.STOP, 3 * WINDOW, "STOP", every=INTERVAL)

        # When a consumer joins, takes the partition and commits nothing
        joined = kafka.consumer(group)
        with background(consume_loop, joined, topic, 0.0, 0):

            def assigned() -> bool:
                described = kafka.admin.describe_consumer_groups([group])[group].result()
                return any(m.assignment.topic_partitions for m in described.members)

            wait_until(assigned, 60, "the joining consumer assigned")
            held_from = time.time()
            # Then every cycle still says STOP, with nobody having committed
            seen: list[tuple[Status | None, str]] = []
            while time.time() < held_from + 5 * INTERVAL:
                seen.append(collect())
                time.sleep(INTERVAL)
            assert assigned(), "the joined consumer held the partition throughout"
    statuses = {s for s, _ in seen}
    assert statuses == {Status.STOP}, seen
    # And the built-in pack pages KafkaGroupStopped once and never resolves it
    ours = [s for s in written if dict(s.labels).get("group") in (group, None)]
    changes = [(c.rule, c.state) for c in replay(list(builtin_rules()), ours) if c.rule in PAGES]
    assert changes == [("KafkaGroupStopped", "firing")], changes
