"""Given pgoutput frames recorded from PostgreSQL 15, the decoder yields the rows that were written."""

from __future__ import annotations

from pathlib import Path

import pytest

from lagwatch.collectors.tap.pgoutput import (
    PgOutputDecoder,
    lsn_text,
    parse_keepalive,
    parse_lsn,
    parse_xlogdata,
    standby_status,
)

STREAM = Path(__file__).resolve().parents[2] / "sample_data" / "pgoutput" / "orders_stream.hex"


def frames() -> list[bytes]:
    lines = STREAM.read_text().splitlines()
    return [bytes.fromhex(line) for line in lines if line and not line.startswith("#")]


def test_recorded_stream_decodes_to_each_change_with_its_commit_time() -> None:
    decoder = PgOutputDecoder()
    changes = []
    for frame in frames():
        lsn, _end, message = parse_xlogdata(frame)
        change = decoder.decode(message, lsn)
        if change is not None:
            changes.append(change)
    assert [(c.op, c.table) for c in changes] == [
        ("insert", "lwcap.orders"),
        ("insert", "lwcap.orders"),
        ("update", "lwcap.orders"),
        ("delete", "lwcap.orders"),
        ("message", "lagwatch"),
    ]
    assert changes[0].row == {"id": "1", "note": "first", "amount": "9.50"}
    assert changes[1].row == {"id": "2", "note": None, "amount": "1"}
    assert changes[2].row == {"id": "1", "note": "changed", "amount": "9.50"}
    assert changes[3].row["id"] == "2"  # a delete carries the old key
    assert changes[4].row == {"content": "hello", "transactional": True}
    # Every change has the server's commit time (2026-ish, not the 2000 epoch) and an LSN.
    for change in changes:
        assert change.commit_ts is not None and change.commit_ts > 1.7e9
        assert "/" in change.position
    assert decoder.transactions == 4


def test_unknown_message_type_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="unexpected pgoutput message type 'Z'"):
        PgOutputDecoder().decode(b"Z\x00", 0)


def test_lsn_and_feedback_frames() -> None:
    assert lsn_text(parse_lsn("16/B374D848")) == "16/B374D848"
    status = standby_status(parse_lsn("0/10"), reply=True)
    assert status[:1] == b"r" and len(status) == 34 and status[-1] == 1
    keepalive = b"k" + (0x20).to_bytes(8, "big") + (0).to_bytes(8, "big") + b"\x01"
    assert parse_keepalive(keepalive) == (0x20, True)
