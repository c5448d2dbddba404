"""Samples as PostgreSQL binary COPY rows of (series_id, ts, value), in key order.

The PostgreSQL store's bulk ingest spends its client time here. Building the rows
as columns of one NumPy record array (big-endian, the COPY row layout itself)
costs less than half of packing each row with ``struct`` and sorting the packed
rows: 30 against 70-80 ms per 100,000 samples.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lagwatch.store.sample import Sample
from lagwatch.store.schema import MS

# PostgreSQL's binary COPY format: a signature, flags and header-extension length,
# then per row a field count and each field's length and big-endian value, then -1.
HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
TRAILER = struct.pack(">h", -1)
ROW = np.dtype(
    [
        ("fields", ">i2"),
        ("sid_len", ">i4"),
        ("sid", ">i8"),
        ("ts_len", ">i4"),
        ("ts", ">i8"),
        ("value_len", ">i4"),
        ("value", ">f8"),
    ]
)

Newest = dict[int, tuple[int, float, str | None]]
"""series id -> (ts in ms, value, note) of its newest sample in a write."""


@dataclass(frozen=True, slots=True)
class CopyRows:
    """One write's samples ready for COPY, and what ``latest`` needs from them."""

    payload: bytes
    newest: Newest
    first_ms: int
    last_ms: int


def copy_rows(samples: Sequence[Sample], sids: Sequence[int]) -> CopyRows:
    """Return the binary COPY payload of ``samples`` (``sids[i]`` the series of ``samples[i]``).

    Rows go in key order (series, then time), so the day partition's primary-key
    btree is filled leaf after leaf instead of at one random leaf per row: most
    of a COPY's cost is that index. A point given twice keeps the order it was
    given in, so the later one is the one a merge keeps, and the one ``newest``
    holds: the sample with the greatest time, the later one of equal times.
    """
    count = len(samples)
    ids = np.fromiter(sids, np.int64, count=count)
    # int(ts * MS) truncated toward zero, as the rest of the store converts times.
    ts = (np.fromiter([s.ts for s in samples], np.float64, count=count) * MS).astype(np.int64)
    values = np.fromiter([s.value for s in samples], np.float64, count=count)
    order = np.lexsort((np.arange(count), ts, ids))
    rows = np.empty(count, ROW)
    rows["fields"] = 3
    rows["sid_len"] = rows["ts_len"] = rows["value_len"] = 8
    rows["sid"] = ordered_ids = ids[order]
    rows["ts"] = ts[order]
    rows["value"] = values[order]
    # The last row of each series' run is its newest sample.
    ends = np.flatnonzero(np.append(ordered_ids[1:] != ordered_ids[:-1], True))
    newest: Newest = {}
    for sid, at in zip(ordered_ids[ends].tolist(), order[ends].tolist(), strict=True):
        sample = samples[at]
        newest[sid] = (int(ts[at]), sample.value, sample.note)
    return CopyRows(
        b"".join((HEADER, rows.tobytes(), TRAILER)), newest, int(ts.min()), int(ts.max())
    )
