"""One contract every Store backend passes; each backend's test module supplies `store`."""

from __future__ import annotations

import time
from typing import Any

import pytest

from lagwatch.store import LatestValue, Record, Sample, Store

T0 = 1_699_999_200.0  # hour-aligned, so rollup buckets are predictable


def s(name: str, value: float, ts: float, **labels: str) -> Sample:
    return Sample.of(name, value, ts, **labels)


class StoreContract:
    """Given a fresh, empty store in the `store` fixture, and `reopen` giving another store
    object on the same database."""

    def test_latest_is_newest_value_per_series(self, store: Store) -> None:
        store.write([s("m", 1, T0, a="x"), s("m", 2, T0 + 10, a="x"), s("m", 7, T0, a="y")])
        store.write([s("m", 0, T0 - 100, a="x")])  # a late, older sample does not win
        latest = {v.label_dict["a"]: v for v in store.latest("m")}
        assert latest["x"].value == 2 and latest["x"].ts == pytest.approx(T0 + 10)
        assert latest["y"].value == 7

    def test_latest_filters_by_name_and_matchers(self, store: Store) -> None:
        store.write(
            [s("m", 1, T0, a="x", b="1"), s("m", 2, T0, a="y", b="1"), s("n", 3, T0, a="x")]
        )
        assert [v.value for v in store.latest("m", {"a": "x"})] == [1]
        assert len(store.latest(None, {"a": "x"})) == 2
        assert store.latest("absent") == []

    def test_note_travels_with_latest(self, store: Store) -> None:
        store.write([Sample.of("up", 0, T0, note="connection refused", collector="c")])
        [value] = store.latest("up")
        assert value.note == "connection refused"
        store.write([Sample.of("up", 1, T0 + 5, collector="c")])
        assert store.latest("up")[0].note is None

    def test_rewrite_of_same_point_is_idempotent(self, store: Store) -> None:
        store.write([s("m", 1, T0, a="x")])
        store.write([s("m", 1, T0, a="x")])
        [series] = store.query_range("m", None, T0 - 1, T0 + 1)
        assert series.points == [(T0, 1.0)]

    def test_a_point_given_twice_in_one_write_keeps_the_later_value(self, store: Store) -> None:
        """Given one write holding the same point twice, the second smaller than the first
        (and the series' points out of time order); then the later one is stored and is latest."""
        store.write([s("m", 5, T0 + 10, a="x"), s("m", 1, T0, a="x"), s("m", 2, T0 + 10, a="x")])
        [series] = store.query_range("m", None, T0 - 1, T0 + 11)
        assert series.points == [(T0, 1.0), (T0 + 10, 2.0)]
        assert [(v.value, v.ts) for v in store.latest("m")] == [(2.0, pytest.approx(T0 + 10))]

    def test_raw_range_returns_every_point(self, store: Store) -> None:
        store.write([s("m", i, T0 + i * 10, a="x") for i in range(30)])
        [series] = store.query_range("m", {"a": "x"}, T0, T0 + 290)
        assert [v for _, v in series.points] == list(range(30))

    def test_range_caps_points_and_aggregates(self, store: Store) -> None:
        store.write([s("m", i, T0 + i, a="x") for i in range(1000)])
        for agg, first in (("avg", 4.5), ("min", 0.0), ("max", 9.0)):
            [series] = store.query_range("m", None, T0, T0 + 999, step=0, agg=agg, max_points=100)
            assert len(series.points) <= 100
            assert series.points[0][1] == pytest.approx(first)

    def test_rollups_answer_coarse_steps_and_agree_with_raw(self, store: Store) -> None:
        store.write([s("m", i % 60, T0 + i * 10, a="x") for i in range(6 * 360)])  # 6 h at 10 s
        store.maintain(T0 + 6 * 3600 + 120)
        [raw] = store.query_range("m", None, T0, T0 + 6 * 3600, step=3600)
        assert len(raw.points) == 6
        total = sum(i % 60 for i in range(6 * 360))
        # every hour holds 360 samples; the hourly means must average back to the whole mean
        assert sum(v for _, v in raw.points) / 6 == pytest.approx(total / (6 * 360))
        [minutes] = store.query_range("m", None, T0, T0 + 3599, step=60, agg="max")
        assert len(minutes.points) == 60

    def test_range_covers_data_newer_than_the_last_rollup(self, store: Store) -> None:
        store.write([s("m", 1, T0 + i * 10, a="x") for i in range(60)])
        store.maintain(T0 + 300)  # rolls up the first 5 minutes only
        store.write([s("m", 3, T0 + 600 + i * 10, a="x") for i in range(6)])
        [series] = store.query_range("m", None, T0, T0 + 700, step=60)
        assert series.points[0] == (T0, 1.0)
        assert series.points[-1] == (T0 + 600, 3.0)
        assert sum(1 for _, v in series.points if v == 1.0) == 10

    def test_retention_drops_old_raw_samples(self, store: Store) -> None:
        store.write([s("m", 1, T0, a="x"), s("m", 2, T0 + 8 * 86400, a="x")])
        store.maintain(T0 + 8 * 86400)
        [raw] = store.query_range("m", None, T0 - 1, T0 + 9 * 86400, max_points=10**7)
        assert [v for _, v in raw.points] == [2.0]
        [hourly] = store.query_range("m", None, T0 - 1, T0 + 9 * 86400, step=3600)
        assert [v for _, v in hourly.points] == [1.0, 2.0]  # the 1 h rollup keeps it longer

    def test_records_put_get_list_delete(self, store: Store) -> None:
        store.put_records([Record("alerts", f"k{i}", T0 + i, {"i": i}) for i in range(5)])
        store.put_records([Record("alerts", "k1", T0 + 10, {"i": 10})])
        store.put_records([Record("other", "k1", T0, {"x": True})])
        got = store.get_record("alerts", "k1")
        assert got is not None and got.body == {"i": 10}
        assert [r.key for r in store.list_records("alerts")] == ["k0", "k2", "k3", "k4", "k1"]
        assert [r.key for r in store.list_records("alerts", newest_first=True, limit=2)] == [
            "k1",
            "k4",
        ]
        assert [r.key for r in store.list_records("alerts", since=T0 + 3, until=T0 + 4)] == [
            "k3",
            "k4",
        ]
        assert store.delete_records("alerts", keys=["k0"]) == 1
        assert store.delete_records("alerts", older_than=T0 + 4) == 2
        assert [r.key for r in store.list_records("alerts")] == ["k4", "k1"]
        assert store.get_record("other", "k1") is not None

    def test_many_series_latest(self, store: Store) -> None:
        now = time.time()
        store.write([s("wide", i, now, i=str(i)) for i in range(3000)])
        assert len(store.latest("wide")) == 3000

    # -- reading only what changed ---------------------------------------------------

    def test_latest_since_gives_everything_then_what_changed(self, store: Store) -> None:
        """Given two series read once in full; when one is written again, then reading since
        the cursor gives it (and applying every answer keeps a copy equal to latest())."""
        store.write([s("m", 1, T0, a="x"), s("m", 2, T0, a="y"), s("n", 3, T0, a="x")])
        first = store.latest_since(None)
        copy = {(v.name, v.labels): v for v in first.values}
        assert copy == {(v.name, v.labels): v for v in store.latest()}
        store.write([s("m", 5, T0 + 10, a="y")])
        store.write([Sample.of("n", 4, T0 + 10, note="late", a="x")])
        second = store.latest_since(first.cursor)
        changed = {(v.name, v.label_dict["a"]): v for v in second.values}
        assert changed[("m", "y")].value == 5 and changed[("m", "y")].ts == pytest.approx(T0 + 10)
        assert changed[("n", "x")].note == "late"
        copy.update({(v.name, v.labels): v for v in second.values})
        assert copy == {(v.name, v.labels): v for v in store.latest()}
        # Nothing written since: nothing that changed is new, and the cursor still works.
        third = store.latest_since(second.cursor)
        copy.update({(v.name, v.labels): v for v in third.values})
        assert copy == {(v.name, v.labels): v for v in store.latest()}

    def test_latest_since_rows_are_plain_tuples_of_the_values(self, store: Store) -> None:
        """Given a series written again; then the answer's rows are plain tuples (the garbage
        collector untracks those, never a LatestValue) holding exactly what ``values`` says."""
        store.write([s("m", 1, T0, a="x"), s("n", 2, T0, a="x")])
        cursor = store.latest_since(None).cursor
        store.write([Sample.of("m", 7.5, T0 + 10, note="why", a="x")])
        changes = store.latest_since(cursor)
        assert [type(row) for row in changes.rows] == [tuple]
        assert changes.rows == [("m", (("a", "x"),), 7.5, pytest.approx(T0 + 10), "why")]
        assert changes.values == [LatestValue(*changes.rows[0])]

    def test_latest_since_leaves_out_a_late_older_sample(self, store: Store) -> None:
        store.write([s("m", 1, T0 + 10, a="x")])
        cursor = store.latest_since(None).cursor
        store.write([s("m", 9, T0, a="x")])  # older than the latest: latest() does not change
        for v in store.latest_since(cursor).values:
            assert v.value == 1

    def test_latest_since_sees_a_new_series_and_a_cursor_outlives_the_store_object(
        self, store: Store, reopen: Any
    ) -> None:
        store.write([s("m", 1, T0, a="x")])
        cursor = store.latest_since(None).cursor
        store.write([s("m", 2, T0 + 1, a="new")])
        again = reopen()
        found = {v.label_dict["a"]: v.value for v in again.latest_since(cursor).values}
        assert found["new"] == 2

    def test_latest_since_reads_only_the_metrics_named(self, store: Store) -> None:
        store.write([s("m", 1, T0, a="x"), s("n", 2, T0, a="x"), s("o", 3, T0, a="x")])
        first = store.latest_since(None, names=["m", "o"])
        assert sorted(v.name for v in first.values) == ["m", "o"]
        store.write([s("m", 4, T0 + 1, a="x"), s("n", 5, T0 + 1, a="x")])
        later = store.latest_since(first.cursor, names=["m"])
        assert [(v.name, v.value) for v in later.values] == [("m", 4)]
