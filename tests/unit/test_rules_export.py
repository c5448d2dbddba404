"""`lagwatch rules export --prometheus`: lagwatch's rules as PromQL, what is left out and why."""

from __future__ import annotations

from pathlib import Path

import yaml

from lagwatch.alerts.builtin import builtin_rules
from lagwatch.alerts.promql import export
from lagwatch.alerts.rules import RuleConfig
from lagwatch.alerts.topology import PipelineLink
from tests.unit.test_alert_cli import lagwatch

CONFIG = """\
sources:
  - {name: orders-db, kind: postgres, dsn: "postgresql://m@127.0.0.1/db"}
kafka:
  - {name: main, bootstrap: "127.0.0.1:9092"}
pipelines:
  - {name: orders, source: orders-db, slot: dbz_orders, topic: dbz.orders, groups: [indexer],
     slo: {freshness: 5s, objective: 99.9}}
alerts:
  dashboard_url: https://lagwatch.example.com
  runbook_url: https://wiki.example.com/runbooks
  disable: [ReceiverBroken]
  rules:
    - name: SearchLagHigh
      expr: max by (cluster, group) (lagwatch_kafka_group_max_lag_seconds{group=~"search-.*"}) > 2m
      for: 1m
      keep_firing_for: 30s
      severity: page
      labels: {team: search}
      annotations:
        summary: "{{ $labels.group }} is {{ $value | duration }} behind, over {{ $threshold | duration }}"
        description: "{{ $note }}"
    - {name: Lookahead, expr: 'lagwatch_kafka_group_status{group=~"(?!tmp).*"} == 3'}
    - {name: OrdersSlotNoData, absent: 'lagwatch_pg_slot_active{source="orders-db"}', after: 5m}
    - name: WalDiskFullSoon
      predict: {series: lagwatch_pg_slot_retained_wal_bytes, limit: 80GB, window: 1h, horizon: 6h}
"""


def rules_by_name(text: str) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for rule in yaml.safe_load(text)["groups"][0]["rules"]:
        out.setdefault(rule["alert"], []).append(rule)
    return out


def test_the_config_s_rules_become_promql_with_their_timing_labels_and_words(
    tmp_path: Path,
) -> None:
    config = tmp_path / "lagwatch.yaml"
    config.write_text(CONFIG)
    done = lagwatch("rules", "export", "--prometheus", "-c", str(config))
    assert done.returncode == 0, done.stderr
    rules = rules_by_name(done.stdout)

    [search] = rules["SearchLagHigh"]
    assert search["expr"] == (
        'max by (cluster, group) (lagwatch_kafka_group_max_lag_seconds{group=~"search-.*"}) > 120'
    )
    assert (search["for"], search["keep_firing_for"]) == ("1m", "30s")
    assert search["labels"] == {"team": "search", "severity": "page"}
    # Filters become Prometheus' template functions, constants are written in; $note has none
    assert search["annotations"] == {
        "summary": "{{ $labels.group }} is {{ $value | humanizeDuration }} behind, over 2m00s"
    }
    [stopped] = rules["KafkaGroupStopped"]
    assert stopped["expr"] == "lagwatch_kafka_group_status == 3" and "for" not in stopped
    assert stopped["annotations"]["runbook_url"] == (
        "https://wiki.example.com/runbooks#kafkagroupstopped"
    )
    assert stopped["annotations"]["dashboard_url"].endswith(
        "/kafka?cluster={{ $labels.cluster | urlquery }}&group={{ $labels.group | urlquery }}"
    )
    # Absent: silence measured on lagwatch's own sample times; the whole selector too
    [silent] = rules["OrdersSlotNoData"]
    assert silent["expr"] == (
        '(time() - max_over_time(timestamp(lagwatch_pg_slot_active{source="orders-db"})[1d:1m])'
        ' > 300) or absent_over_time(lagwatch_pg_slot_active{source="orders-db"}[5m])'
    )
    [wal] = rules["WalDiskFullSoon"]
    assert wal["expr"] == (
        "predict_linear(lagwatch_pg_slot_retained_wal_bytes[1h], 21600) >= 80000000000"
    )
    # The burn rate: one rule per window pair, with the pipeline's objective
    burns = rules["PipelineSLOBurn"]
    assert [(b["labels"]["slo_window"], b["labels"]["severity"]) for b in burns] == [
        ("1h", "page"), ("6h", "page"), ("3d", "ticket")
    ]  # fmt: skip
    assert burns[0]["expr"].endswith("[5m])))) / 0.001 > 14.4")
    assert 'pipeline="orders"' in burns[0]["expr"]
    # Left out, with why: a lookahead RE2 cannot read; disabled rules are not in force
    assert "Lookahead" not in rules and "ReceiverBroken" not in rules
    assert "# not exported: Lookahead: the regex '(?!tmp).*' uses syntax RE2" in done.stdout


def test_a_burn_rate_without_any_objective_is_left_out_and_said_so() -> None:
    exported = export(builtin_rules())
    assert [name for name, _ in exported.skipped] == ["PipelineSLOBurn"]
    assert "pipelines[].slo" in exported.skipped[0][1]
    sli = RuleConfig.model_validate(
        {"name": "Fresh", "burn_rate": {"sli": "lagwatch_pipeline_freshness_seconds"}}
    )
    [rule] = export([sli], [PipelineLink("orders", objective=99.0, freshness=5.0)]).rules[:1]
    assert "avg_over_time((lagwatch_pipeline_freshness_seconds" in rule["expr"]
    assert '{pipeline="orders"} > bool 5)[1h:1m]' in rule["expr"]


def test_the_builtin_pack_exports_without_a_config_and_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "rules.yml"
    done = lagwatch("rules", "export", "--prometheus", "--builtin", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert f"wrote {len(builtin_rules()) - 1} rules to {out}" in done.stderr
    assert len(rules_by_name(out.read_text())) == len(builtin_rules()) - 1


def test_the_format_must_be_said() -> None:
    done = lagwatch("rules", "export", "--builtin")
    assert done.returncode == 2 and "--prometheus" in done.stderr
