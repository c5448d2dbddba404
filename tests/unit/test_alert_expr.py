"""Rule expressions read like PromQL and bad ones are refused with a sentence that says what to write."""

from __future__ import annotations

import pytest

from lagwatch.alerts.expr import parse_matcher, parse_number, parse_selector, parse_threshold


@pytest.mark.parametrize(
    ("text", "metric", "matchers", "agg", "by", "fn", "window", "op", "threshold"),
    [
        # a bare comparison on one metric
        ("lagwatch_collector_up == 0", "lagwatch_collector_up", [], None, (), None, 0, "==", 0),
        # matchers of all four kinds, spaces anywhere
        (
            'm{a="x", b!="y",c=~"s-.*" , d!~"t"} >= 1e3',
            "m",
            ['a="x"', 'b!="y"', 'c=~"s-.*"', 'd!~"t"'],
            None, (), None, 0, ">=", 1000,
        ),
        # an aggregation by labels, with a duration as threshold
        (
            "max by (cluster, group) (lagwatch_kafka_group_max_lag_seconds) > 5m",
            "lagwatch_kafka_group_max_lag_seconds", [], "max", ("cluster", "group"), None, 0, ">", 300,
        ),
        # a range function over a window, with a size as threshold
        ("increase(m_total[5m]) > 10GB", "m_total", [], None, (), "increase", 300, ">", 1e10),
        # aggregation around a range function
        (
            'sum by (pipeline) (rate(m_total{hop="topic"}[1m])) < 0.5',
            "m_total", ['hop="topic"'], "sum", ("pipeline",), "rate", 60, "<", 0.5,
        ),
    ],
)  # fmt: skip
def test_threshold_expressions(
    text: str,
    metric: str,
    matchers: list[str],
    agg: str | None,
    by: tuple[str, ...],
    fn: str | None,
    window: float,
    op: str,
    threshold: float,
) -> None:
    e = parse_threshold(text)
    assert e.selector.metric == metric
    assert [str(m) for m in e.selector.matchers] == matchers
    assert (e.aggregation, e.by, e.function, e.window, e.op) == (agg, by, fn, window, op)
    assert e.threshold == pytest.approx(threshold)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("lagwatch_collector_up", "cannot read expr"),  # no comparison
        ("m{a=x} > 1", "label matchers"),  # unquoted value
        ('m{a=~"("} > 1', "not a valid regular expression"),
        ("m[5m] > 1", "needs a function"),
        ("m > lots", "cannot read the threshold"),
        ("increase(m[0s]) > 1", "window must be > 0"),
    ],
)
def test_bad_expressions_say_what_to_write(text: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_threshold(text)


def test_matchers_from_the_command_line() -> None:
    assert str(parse_matcher("group=search")) == 'group="search"'
    assert str(parse_matcher('cluster!~"test-.*"')) == 'cluster!~"test-.*"'
    m = parse_matcher("group=~search-.*")
    assert m.matches({"group": "search-1"}) and not m.matches({"group": "xsearch-1"})
    with pytest.raises(ValueError, match="name=value"):
        parse_matcher("just-a-word")


def test_selector_equalities_feed_the_store_filter() -> None:
    s = parse_selector('m{a="1", b=~"2|3"}')
    assert s.equalities == {"a": "1"}
    assert s.matches({"a": "1", "b": "3"}) and not s.matches({"a": "1", "b": "4"})
    assert parse_number("512MiB") == 512 * 2**20
