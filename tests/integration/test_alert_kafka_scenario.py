"""End to end on the devstack: a real consumer group stops and resumes; the real daemon pages once, resolves once."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lagwatch.collectors.kafka.verdict import Status
from tests.integration.kafka_helpers import topic as scratch_topic
from tests.support.daemon_run import start_daemon, stop_daemon
from tests.support.kafka_stop import (
    StoppingGroup,
    StoreWatch,
    Ticker,
    delete_groups,
    write_config,
)
from tests.support.receivers import PD_ACCEPTED, SLACK_OK, FakeReceiver, Received

pytestmark = pytest.mark.integration

WINDOW = 20.0
INTERVAL = 3.0
NOTIFY_BOUND = WINDOW + INTERVAL + 5  # from the verdict in the store to the receiver
GROUP_INTERVAL = 10.0


def wait_for(what: str, check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.time() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.time() < deadline, f"timed out after {timeout:g}s waiting for {what}"
        time.sleep(0.2)


def about(group: str, received: list[Received]) -> list[Received]:
    return [r for r in received if group in json.dumps(r.body)]


def test_stopped_consumer_group_pages_once_and_resolves_once(
    tmp_path: Path, kafka_bootstrap: str, unique: str
) -> None:
    """Given the daemon watching a consumer group that keeps up with a topic written twice a
    second; when the consumer stops, then Slack and PagerDuty get one message each soon after
    the STOP verdict; when it resumes, then each gets one resolve (PagerDuty's with the same
    dedup_key) and nothing more."""
    group = f"lw-scen-{unique}"
    with scratch_topic(kafka_bootstrap, f"lw-scen-{unique}") as topic, \
            FakeReceiver(SLACK_OK) as slack, FakeReceiver(PD_ACCEPTED) as pd:  # fmt: skip
        config = write_config(tmp_path, kafka_bootstrap, f"scen-{unique}", group,
                              INTERVAL, WINDOW, slack.url, pd.url, GROUP_INTERVAL)  # fmt: skip
        log = tmp_path / "daemon.log"
        ticker = Ticker(kafka_bootstrap, topic)
        consumers = StoppingGroup(kafka_bootstrap, topic, group)
        daemon = start_daemon(config, log)
        watch = StoreWatch(tmp_path / "lagwatch.db")
        try:
            # Given the group judged OK while it consumes
            wait_for("an OK verdict", lambda: (watch.status(group) or (-1,))[0] == Status.OK, 120)

            # When the consumer stops
            stopped = consumers.stop()
            verdict = wait_for(
                "the STOP verdict in the store",
                lambda: watch.first(group, Status.STOP, stopped),
                WINDOW + 4 * INTERVAL + 20,
            )
            print(f"stop to verdict {verdict - stopped:.1f}s")
            assert verdict - stopped >= WINDOW  # not before a full window without a commit

            # Then one Slack message and one PagerDuty trigger arrive soon after the verdict
            wait_for("Slack and PagerDuty", lambda: about(group, slack.received)
                     and about(group, pd.received), NOTIFY_BOUND + verdict - time.time())  # fmt: skip
            [message] = about(group, slack.received)
            [trigger] = about(group, pd.received)
            assert "KafkaGroupStopped" in message.body["text"] and "FIRING" in message.body["text"]
            assert trigger.body["event_action"] == "trigger"
            for r in (message, trigger):
                assert verdict <= r.at <= verdict + NOTIFY_BOUND
                print(f"verdict to 2xx {r.at - verdict:.1f}s, stop to 2xx {r.at - stopped:.1f}s")
            # ... and nothing more over three further collections that still say STOP
            paged = max(message.at, trigger.at)
            wait_for("three more collections", lambda: (watch.status(group) or (0, 0))[1]
                     >= paged + 3 * INTERVAL, 6 * INTERVAL + 20)  # fmt: skip
            assert (watch.status(group) or (0,))[0] == Status.STOP
            assert (len(about(group, slack.received)), len(about(group, pd.received))) == (1, 1)

            # When the consumer resumes
            consumers.resume()
            resumed = consumers.resumed_at or time.time()

            # Then each receiver gets one resolve, PagerDuty's for the same dedup_key
            dedup = trigger.body["dedup_key"]
            resolves = lambda: [r for r in pd.received if r.body.get("dedup_key") == dedup  # noqa: E731
                                and r.body["event_action"] == "resolve"]  # fmt: skip
            ok = wait_for("the OK verdict", lambda: watch.first(group, Status.OK, resumed),
                          4 * INTERVAL + 20)  # fmt: skip
            # A resolve waits for the group's next flush, group_interval after the page
            bound = max(ok, paged + GROUP_INTERVAL) + INTERVAL + 10
            wait_for("the resolves", lambda: len(about(group, slack.received)) == 2
                     and resolves(), bound - time.time())  # fmt: skip
            assert max(r.at for r in slack.received + pd.received) <= bound
            print(f"resume to OK {ok - resumed:.1f}s, OK to resolve {resolves()[0].at - ok:.1f}s")
            assert "RESOLVED" in about(group, slack.received)[1].body["text"]
            done = max(r.at for r in slack.received + pd.received)
            wait_for("three more collections", lambda: (watch.status(group) or (0, 0))[1]
                     >= done + 3 * INTERVAL, 6 * INTERVAL + 20)  # fmt: skip
            assert (watch.status(group) or (-1,))[0] == Status.OK
            assert len(about(group, slack.received)) == 2
            assert len(resolves()) == 1
            assert len([r for r in pd.received if r.body.get("dedup_key") == dedup]) == 2
        finally:
            consumers.close()
            ticker.close()
            watch.close()
            assert stop_daemon(daemon) == 0
            delete_groups(kafka_bootstrap, [group])
        assert "KEY" not in log.read_text()
