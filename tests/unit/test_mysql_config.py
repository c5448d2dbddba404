"""`kind: mysql` sources and their readers in the config file: kinds inferred, mistakes named."""

from __future__ import annotations

from pathlib import Path

import pytest

from lagwatch.collectors.mysql import MysqlSource
from lagwatch.config import ConfigError, load

HEAD = """\
sources:
  - name: legacy
    kind: mysql
    dsn: mysql://u:p@127.0.0.1:3306/x
    readers:
"""


def write(tmp_path: Path, readers: str) -> Path:
    path = tmp_path / "lagwatch.yaml"
    path.write_text(HEAD + readers)
    return path


def test_reader_kinds_are_inferred_from_their_keys(tmp_path: Path) -> None:
    config = load(
        write(
            tmp_path,
            """\
      - {name: dbz-legacy, connect_url: "http://127.0.0.1:8083", connector: legacy}
      - {name: nightly, query: "SELECT file, pos FROM ops.cdc_position"}
      - {name: tap, kind: tap}
""",
        )
    )
    source = config.sources[0]
    assert isinstance(source, MysqlSource)
    assert [(r.name, r.kind) for r in source.readers] == [
        ("dbz-legacy", "debezium"),
        ("nightly", "sql"),
        ("tap", "tap"),
    ]


@pytest.mark.parametrize(
    ("reader", "complaint"),
    [
        ("{name: a}", "say which kind of reader this is"),
        ('{name: a, connect_url: "http://c:8083"}', "a debezium reader needs connector"),
        ("{name: a, kind: sql}", "a sql reader needs query"),
        ('{name: a, kind: tap, query: "SELECT 1"}', "query does not apply to a tap reader"),
        ('{name: a, connect_url: "c:8083", connector: x}', "must start with http:// or https://"),
        ("{name: a, kind: tap, colour: red}", "unknown key"),
    ],
)
def test_reader_mistakes_are_named_with_their_line(
    tmp_path: Path, reader: str, complaint: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load(write(tmp_path, f"      - {{name: ok, kind: tap}}\n      - {reader}\n"))
    (problem,) = raised.value.problems
    assert problem.startswith(f"{tmp_path / 'lagwatch.yaml'}:7: sources[0].readers[1]")
    assert complaint in problem


def test_reader_names_must_be_unique_per_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="repeated: twin"):
        load(write(tmp_path, "      - {name: twin, kind: tap}\n      - {name: twin, kind: tap}\n"))


def test_outbox_tables_of_a_mysql_source_get_their_own_collector(tmp_path: Path) -> None:
    from lagwatch.collectors.base import CollectorContext
    from lagwatch.collectors.kinds import build_sources

    path = tmp_path / "lagwatch.yaml"
    path.write_text(
        HEAD.replace("    readers:\n", "")
        + "    outbox: [{table: shop.outbox, created_at: created_at, published_at: sent_at}]\n"
    )
    config = load(path)
    names = [c.name for c in build_sources(config.sources, CollectorContext())]
    assert names == ["mysql:legacy", "outbox:legacy"]
