"""`lagwatch report capacity` over a SQLite store seeded with synthetic series."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import SecretStr

from lagwatch.cli import main
from lagwatch.reports.capacity import capacity_report
from lagwatch.store import Sample, Store, StoreConfig, open_store

GIB, MIB = 1024**3, 1024**2
STEP = 60.0  # one sample a minute, like a slow collector


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "lagwatch.db"


@pytest.fixture
def store(db: Path):
    opened = open_store(StoreConfig(url=SecretStr(f"sqlite:///{db}")))
    yield opened
    opened.close()


@pytest.fixture
def config(tmp_path: Path, db: Path) -> Path:
    path = tmp_path / "lagwatch.yaml"
    path.write_text(f"store:\n  url: sqlite:///{db}\n")
    return path


def seed(
    store: Store,
    name: str,
    value: Callable[[float], float],
    now: float,
    minutes: int = 60,
    **labels: str,
) -> None:
    """Write ``name`` every minute for the last ``minutes``; ``value`` takes seconds ago."""
    ages = [STEP * i for i in range(minutes, -1, -1)]
    store.write([Sample.of(name, value(age), now - age, **labels) for age in ages])


def growing_slot(store: Store, now: float, slot: str, per_hour: float, limit: float) -> None:
    """A limited slot whose retained WAL grows ``per_hour`` from 1 GiB toward ``limit``."""

    def retained(age: float) -> float:
        return GIB + per_hour * (3600 - age) / 3600

    seed(store, "lagwatch_pg_slot_retained_wal_bytes", retained, now, source="pg", slot=slot)
    seed(store, "lagwatch_pg_slot_safe_wal_bytes", lambda a: limit - retained(a), now,
         source="pg", slot=slot)  # fmt: skip
    seed(store, "lagwatch_pg_slot_wal_limited", lambda a: 1.0, now, source="pg")


def by_labels(items, **labels: str):
    [found] = [i for i in items if all(i.labels.get(k) == v for k, v in labels.items())]
    return found


def test_a_growing_limited_slot_runs_out_when_the_arithmetic_says(store: Store) -> None:
    """Given a slot retaining 100 MiB more WAL each hour with a 4 GiB limit, when we
    report, then its time to loss is (limit - retained) / rate, and it tops the list."""
    now = time.time()
    growing_slot(store, now, "fast", 100 * MIB, 4 * GIB)
    growing_slot(store, now, "slow", 10 * MIB, 4 * GIB)
    items = capacity_report(store, now, 6 * 3600)
    assert [i.labels["slot"] for i in items] == ["fast", "slow"]
    fast = items[0]
    current = GIB + 100 * MIB
    assert fast.state == "runs_out"
    assert fast.value == pytest.approx(current)
    assert fast.limit == pytest.approx(4 * GIB)
    assert fast.rate_per_hour == pytest.approx(100 * MIB, rel=1e-6)
    assert fast.eta_seconds == pytest.approx((4 * GIB - current) / (100 * MIB) * 3600, rel=1e-3)
    assert fast.points == 61 and fast.window_seconds == pytest.approx(3600, abs=1)


def test_an_unlimited_slot_is_growing_with_no_limit(store: Store) -> None:
    now = time.time()
    seed(store, "lagwatch_pg_slot_retained_wal_bytes", lambda a: 5e9 - a * 1000, now,
         source="pg", slot="audit")  # fmt: skip
    seed(store, "lagwatch_pg_slot_wal_limited", lambda a: 0.0, now, source="pg")
    [item] = capacity_report(store, now, 6 * 3600)
    assert (item.kind, item.state, item.limit, item.eta_seconds) == (
        "pg_slot", "growing_no_limit", None, None,
    )  # fmt: skip
    assert item.rate_per_hour == pytest.approx(3.6e6)
    assert "no limit" in item.note


def test_a_shrinking_kafka_lag_says_when_it_catches_up(store: Store) -> None:
    """Given a group whose lag falls 2 messages a second, it catches up in value / 2 s."""
    now = time.time()
    seed(store, "lagwatch_kafka_group_lag_messages", lambda a: 3000 + 2 * a, now,
         cluster="main", group="billing")  # fmt: skip
    seed(store, "lagwatch_kafka_group_max_lag_seconds", lambda a: 40.0, now,
         cluster="main", group="billing")  # fmt: skip
    [item] = capacity_report(store, now, 6 * 3600)
    assert item.state == "catching_up"
    assert item.rate_per_hour == pytest.approx(-7200)
    assert item.eta_seconds == pytest.approx(3000 / 2)
    assert item.related == {"max_lag_seconds": 40.0}


def test_a_flat_backlog_is_not_growing_and_short_history_is_said(store: Store) -> None:
    now = time.time()
    seed(store, "lagwatch_outbox_backlog_rows", lambda a: 50.0 + (a // 60) % 2, now,
         source="pg", table="outbox")  # fmt: skip
    seed(store, "lagwatch_outbox_backlog_rows", lambda a: 10.0 * (300 - a), now, minutes=2,
         source="pg", table="fresh")  # fmt: skip
    items = capacity_report(store, now, 6 * 3600)
    flat = by_labels(items, table="outbox")
    assert (flat.state, flat.eta_seconds) == ("not_growing", None)
    fresh = by_labels(items, table="fresh")
    assert (fresh.state, fresh.points, fresh.rate_per_hour) == ("not_enough_history", 3, None)


def test_a_mysql_reader_stuck_on_one_file_runs_out_at_expiry(store: Store) -> None:
    now = time.time()
    labels = {"source": "maria", "reader": "debezium"}
    seed(store, "lagwatch_mysql_binlog_reader_behind_bytes", lambda a: 9e6 - a * 100, now,
         **labels)  # fmt: skip
    seed(store, "lagwatch_mysql_binlog_purge_eta_seconds", lambda a: 7200 + a, now, **labels)
    seed(store, "lagwatch_mysql_binlog_reader_lost", lambda a: 0.0, now, **labels)
    [item] = capacity_report(store, now, 6 * 3600)
    assert (item.kind, item.state, item.limit_name) == ("mysql_reader", "runs_out", "binlog expiry")
    assert item.eta_seconds == pytest.approx(7200, abs=5)


def report(config: Path, *extra: str) -> int:
    return main(["report", "capacity", "-c", str(config), *extra])


def test_exit_1_when_something_runs_out_within_the_horizon(store, config, capsys) -> None:
    growing_slot(store, time.time(), "fast", 100 * MIB, 4 * GIB)  # ~29 h left
    assert report(config) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["KIND", "WHAT", "NOW", "RATE/H", "LIMIT", "WHEN",
                                           "HISTORY"]  # fmt: skip
    assert "runs out in 1d05h" in out
    assert report(config, "--horizon", "1d") == 0


def test_exit_0_when_nothing_has_a_limit_in_reach(store, config, capsys) -> None:
    now = time.time()
    seed(store, "lagwatch_kafka_group_lag_messages", lambda a: 10 + a, now, cluster="c", group="g")
    assert report(config) == 0
    assert "caught up in" in capsys.readouterr().out


def test_json_is_a_stable_list_of_objects(store, config, capsys) -> None:
    growing_slot(store, time.time(), "fast", 100 * MIB, 4 * GIB)
    assert report(config, "--json", "--window", "2h") == 1
    [item] = json.loads(capsys.readouterr().out)
    assert set(item) == {
        "kind", "labels", "metric", "value", "unit", "rate_per_hour", "limit", "limit_name",
        "state", "eta_seconds", "points", "window_seconds", "note", "related",
    }  # fmt: skip
    assert item["labels"] == {"source": "pg", "slot": "fast"}
    assert (item["kind"], item["unit"], item["state"]) == ("pg_slot", "bytes", "runs_out")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--window", "six hours"], "--window: expected a duration such as 10s"),
        (["--horizon", "0s"], "--horizon: must be longer than 0"),
    ],
)
def test_exit_2_on_a_bad_duration(store, config, capsys, args, message) -> None:
    assert report(config, *args) == 2
    assert message in capsys.readouterr().err


def test_exit_2_when_the_store_is_missing_or_config_bad(tmp_path: Path, capsys) -> None:
    config = tmp_path / "lagwatch.yaml"
    config.write_text(f"store:\n  url: sqlite:///{tmp_path / 'nowhere.db'}\n")
    assert report(config) == 2
    err = capsys.readouterr().err
    assert "no store at" in err and "store.url" in err
    config.write_text("store:\n  url: mysql://x\n")
    with pytest.raises(SystemExit) as exited:
        report(config)
    assert exited.value.code == 2
    assert "store.url" in capsys.readouterr().err


def test_an_unreserved_slot_is_lost_now_and_sorts_first(store: Store) -> None:
    now = time.time()
    growing_slot(store, now, "fast", 100 * MIB, 4 * GIB)
    growing_slot(store, now, "gone", 100 * MIB, GIB)  # retained is past the limit
    items = capacity_report(store, now, 6 * 3600)
    assert [(i.labels["slot"], i.state) for i in items] == [("gone", "lost"), ("fast", "runs_out")]
    assert items[0].eta_seconds == 0.0


def test_binlog_growing_toward_max_binlog_total_size(store: Store) -> None:
    """Given 600 MiB of binlog growing 50 MiB an hour under a 1 GiB cap, it reaches the cap
    (and starts purging the oldest files) in (1024 - 600) / 50 hours."""
    now = time.time()
    seed(store, "lagwatch_mysql_binlog_bytes", lambda a: 600 * MIB - 50 * MIB * a / 3600, now,
         source="maria")  # fmt: skip
    seed(store, "lagwatch_mysql_binlog_retention_bytes", lambda a: float(GIB), now, source="maria")
    [item] = capacity_report(store, now, 6 * 3600)
    assert (item.kind, item.state, item.limit_name) == ("mysql_binlog", "runs_out",
                                                        "max_binlog_total_size")  # fmt: skip
    assert item.eta_seconds == pytest.approx((1024 - 600) / 50 * 3600, rel=1e-3)
