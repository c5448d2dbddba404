"""GTID sets of MySQL (uuid:intervals, tags) and MariaDB (domain-server-seq): what has a reader lost?"""

from __future__ import annotations

import pytest

from lagwatch.collectors.mysql.gtid import (
    GtidError,
    MariadbGtidPos,
    MysqlGtidSet,
    purged_gtids_missing,
)

A = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
B = "b9b4712a-df64-11e3-b391-60672090eb04"


# Each row: (why, purged, reader, what the reader misses or None).
MYSQL_CASES = [
    ("reader has read everything purged", f"{A}:1-5", f"{A}:1-105", None),
    ("same set exactly", f"{A}:1-5", f"{A}:1-5", None),
    ("reader stopped inside the purged range", f"{A}:1-5", f"{A}:1-3", f"{A}:4-5"),
    ("reader never saw a second source", f"{A}:1-5,\n{B}:1-3", f"{A}:1-105", f"{B}:1-3"),
    ("a hole in the reader's set", f"{A}:1-10", f"{A}:1-4:8-20", f"{A}:5-7"),
    ("nothing purged", "", f"{A}:1-3", None),
    ("uuid case and spaces do not matter", f"{A.upper()}:1-5", f" {A}:1-5 ", None),
    ("adjacent intervals merge", f"{A}:1-10", f"{A}:1-5:6-10", None),
    ("single transactions", f"{A}:3", f"{A}:1:2:4", f"{A}:3"),
    ("tagged GTIDs are their own series", f"{A}:1-5:orders:1-2", f"{A}:1-9", f"{A}:orders:1-2"),
    ("tagged GTIDs read", f"{A}:1-5:orders:1-2", f"{A}:1-9:orders:1-4", None),
]


@pytest.mark.parametrize(("why", "purged", "reader", "missing"), MYSQL_CASES)
def test_mysql_purged_gtids_not_in_reader(
    why: str, purged: str, reader: str, missing: str | None
) -> None:
    assert purged_gtids_missing("mysql", purged, reader) == missing, why


# Each row: (why, purged Gtid_list, reader position, expected substring or None).
MARIADB_CASES = [
    ("reader past the purged state", "[0-1-46]", "0-1-87", None),
    ("reader exactly at the start of the oldest file", "[0-1-46]", "0-1-46", None),
    (
        "reader behind the purged state",
        "[0-1-46]",
        "0-1-40",
        "domain 0: reader at 40, purged up to 46",
    ),
    ("empty Gtid_list: nothing purged", "[]", "0-1-1", None),
    ("another server in the same domain counts", "[0-1-10,0-2-50]", "0-2-49", "reader at 49"),
    (
        "reader lacks a domain that has purged events",
        "[0-1-5,1-3-7]",
        "0-1-9",
        "domain 1: reader has no position",
    ),
    ("two domains, both fine", "[0-1-5,1-3-7]", "0-1-9,1-3-7", None),
]


@pytest.mark.parametrize(("why", "purged", "reader", "expected"), MARIADB_CASES)
def test_mariadb_purged_gtids_not_in_reader(
    why: str, purged: str, reader: str, expected: str | None
) -> None:
    missing = purged_gtids_missing("mariadb", purged, reader)
    if expected is None:
        assert missing is None, why
    else:
        assert missing is not None and expected in missing, why


def test_mysql_set_prints_back_in_mysql_form() -> None:
    parsed = MysqlGtidSet.parse(f"{B}:7-9:1-3,\n{A}:5:orders:1-2")
    assert str(parsed) == f"{A}:5,{A}:orders:1-2,{B}:1-3:7-9"


def test_mariadb_position_keeps_highest_seq_per_domain() -> None:
    assert MariadbGtidPos.parse("0-1-5,0-2-9,3-1-1").domains() == {0: 9, 3: 1}


@pytest.mark.parametrize(
    ("flavour", "text", "complaint"),
    [
        ("mysql", "not-a-uuid:1-5", "server uuid"),
        ("mysql", f"{A}:5-1", "runs backwards"),
        ("mysql", f"{A}:1-x", "neither an interval nor a tag"),
        ("mariadb", "0-1", "domain-server-sequence"),
        ("mariadb", f"{A}:1-5", "domain-server-sequence"),
    ],
)
def test_bad_gtid_text_is_named(flavour: str, text: str, complaint: str) -> None:
    with pytest.raises(GtidError, match=complaint):
        purged_gtids_missing(flavour, text, text)
