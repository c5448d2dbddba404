"""The connect: section: every bad value is refused with the key and the fix; connectors are
linked to the sources they read by links, by address, and by slot."""

from __future__ import annotations

from pathlib import Path

import pytest

from lagwatch.collectors.connect.debezium import target_of
from lagwatch.collectors.connect.sources import Link, PgReading, SlotRow, SourceReader
from lagwatch.config import ConfigError, load

PG = "io.debezium.connector.postgresql.PostgresConnector"
MARIADB = "io.debezium.connector.mariadb.MariaDbConnector"

BASE = """\
sources:
  - {name: orders-db, kind: postgres, dsn: "postgresql://m:pw@db.example:5432/orders"}
  - {name: local-pg, kind: postgres, dsn: "host=/run/postgresql port=5433 dbname=app user=m"}
  - {name: legacy, kind: mysql, dsn: "mysql://m:pw@127.0.0.1:3306/shop",
     readers: [%s]}
kafka:
  - {name: main, bootstrap: "127.0.0.1:9092"}
connect:
  - %s
"""


def write(tmp_path: Path, connect: str, reader: str = "{name: r, query: 'SELECT 1'}") -> Path:
    path = tmp_path / "lagwatch.yaml"
    path.write_text(BASE % (reader, connect))
    return path


def test_a_full_entry_loads_with_its_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "{name: cdc, url: 'http://connect:8083/', kafka: main, username: lw, "
        "password: '${CONNECT_PW:-pw}', links: {legacy-cdc: legacy}}",
        "{name: dbz, connect: cdc, connector: legacy-cdc}",
    )
    config = load(path)
    cluster = config.connect[0]
    assert (cluster.interval, cluster.timeout, cluster.offsets_topic) == (
        10.0,
        20.0,
        "connect-offsets",
    )
    assert cluster.base_url == "http://connect:8083" and cluster.offsets == "debezium"
    assert cluster.password is not None and "pw" in config.secrets()
    reader = config.sources[2].readers[0]  # type: ignore[attr-defined]
    assert (reader.kind, reader.connect, reader.connector) == ("debezium", "cdc", "legacy-cdc")


@pytest.mark.parametrize(
    ("connect", "reader", "complaint"),
    [
        ("{name: cdc, url: 'connect:8083'}", None, "url must look like http://HOST:PORT"),
        ("{name: cdc, url: 'http://u:p@connect:8083'}", None, "url must not carry credentials"),
        ("{name: cdc, url: 'http://c:8083', password: x}", None, "username is not"),
        ("{name: cdc, url: 'http://c:8083', timeout: 5s}", None, "timeout (5s) must exceed"),
        ("{name: cdc, url: 'http://c:8083', offsets: all}", None, "offsets"),
        ("{name: cdc, url: 'http://c:8083', kafka: nope}", None, "no kafka cluster named 'nope'"),
        ("{name: main, url: 'http://c:8083'}", None, "a kafka: cluster is also named 'main'"),
        ("{name: cdc, url: 'http://c:8083', links: {x: nope}}", None, "no source named 'nope'"),
        ("{name: cdc, url: 'http://c:8083', bogus: 1}", None, "connect[0].bogus: unknown key"),
        (
            "{name: cdc, url: 'http://c:8083'}",
            "{name: d, connect: other, connector: x}",
            "no connect cluster named 'other'",
        ),
        (
            "{name: cdc, url: 'http://c:8083'}",
            "{name: d, connect: cdc}",
            "a debezium reader needs connector",
        ),
        (
            "{name: cdc, url: 'http://c:8083'}",
            "{name: d, connect: cdc, connect_url: 'http://c:1', connector: x}",
            "not both",
        ),
        (
            "{name: cdc, url: 'http://c:8083'}",
            "{name: d, connect: cdc, connector: x, username: u}",
            "username does not apply",
        ),
    ],
)
def test_bad_values_name_the_key_and_the_fix(
    tmp_path: Path, connect: str, reader: str | None, complaint: str
) -> None:
    path = write(tmp_path, connect, reader) if reader else write(tmp_path, connect)
    with pytest.raises(ConfigError) as raised:
        load(path)
    text = str(raised.value)
    assert complaint in text
    assert f"{path}:" in text, "the error names the file and line"


def test_two_clusters_of_one_name_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path, "{name: cdc, url: 'http://a:8083'}\n  - {name: cdc, url: 'http://b:8083'}"
    )
    with pytest.raises(ConfigError, match="connect: names must be unique, repeated: cdc"):
        load(path)


def sources(tmp_path: Path) -> SourceReader:
    config = load(write(tmp_path, "{name: cdc, url: 'http://c:8083', links: {pinned: local-pg}}"))
    return SourceReader(config.sources, config.connect[0].links, 1.0)


def test_a_connector_is_linked_by_links_then_by_address(tmp_path: Path) -> None:
    reader = sources(tmp_path)
    by_address = reader.link(
        "orders", target_of(PG, {"database.hostname": "DB.example", "database.dbname": "orders"})
    )
    assert by_address == Link("orders-db", "address DB.example:5432/orders")
    local = reader.link(
        "app",
        target_of(
            PG,
            {"database.hostname": "localhost", "database.port": "5433", "database.dbname": "app"},
        ),
    )
    assert local == Link("local-pg", "address localhost:5433/app"), "a unix socket is localhost"
    pinned = reader.link("pinned", target_of(PG, {"database.hostname": "elsewhere"}))
    assert pinned == Link("local-pg", "links")
    maria = reader.link("shop", target_of(MARIADB, {"database.hostname": "localhost"}))
    assert maria == Link("legacy", "address localhost:3306")
    wrong_kind = SourceReader(reader.pg.values(), {"x": "orders-db"}, 1.0).link(
        "x", target_of(MARIADB, {"database.hostname": "h"})
    )
    assert wrong_kind == "links names 'orders-db', which is not a mysql source"
    assert "no mysql source has address other:3306" in str(
        reader.link("m", target_of(MARIADB, {"database.hostname": "other"}))
    )


def test_an_unmatched_postgres_connector_is_linked_by_its_slot_when_one_source_has_it(
    tmp_path: Path,
) -> None:
    reader = sources(tmp_path)
    target = target_of(
        PG,
        {"database.hostname": "pg-proxy", "database.dbname": "orders", "slot.name": "orders_slot"},
    )
    assert reader.link("c", target) == "", "no address matches: try the slot"
    slot = SlotRow("orders_slot", "orders", True, 10)
    one = {
        "orders-db": PgReading(20, 5, None, {"orders_slot": slot}),
        "local-pg": PgReading(7, 5, None),
    }
    assert reader.by_slot(target, one) == Link("orders-db", "slot orders_slot")
    both = {name: PgReading(20, 5, None, {"orders_slot": slot}) for name in one}
    assert "exists on sources local-pg, orders-db; set links" in str(reader.by_slot(target, both))
    other_db = {
        "orders-db": PgReading(20, 5, None, {"orders_slot": SlotRow("orders_slot", "x", True, 1)})
    }
    assert "no postgres source has address" in str(reader.by_slot(target, other_db))
