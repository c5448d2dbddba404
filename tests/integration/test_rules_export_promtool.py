"""`lagwatch rules export --prometheus` checked by Prometheus' own promtool (Debian's 2.42).

Given a config with the built-in pack, a pipeline SLO and rules of every kind, when the
export is written, then `promtool check rules` accepts it, and `promtool test rules`
fed series shaped like lagwatch's /metrics fires the alerts lagwatch would, when it would.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.test_alert_cli import lagwatch
from tests.unit.test_rules_export import CONFIG

pytestmark = pytest.mark.integration

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert Path(PROMTOOL).exists(), "promtool is missing: run devstack/install (Debian prometheus)"
    return subprocess.run([PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def exported(tmp_path: Path) -> Path:
    config = tmp_path / "lagwatch.yaml"
    config.write_text(CONFIG)
    out = tmp_path / "lagwatch-rules.yml"
    done = lagwatch("rules", "export", "--prometheus", "-c", str(config), "-o", str(out))
    assert done.returncode == 0, done.stderr
    return out


def test_promtool_accepts_every_exported_rule(tmp_path: Path) -> None:
    rules = exported(tmp_path)
    count = len(yaml.safe_load(rules.read_text())["groups"][0]["rules"])
    checked = promtool("check", "rules", str(rules), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {count} rules found" in checked.stdout


def test_promtool_fires_the_exported_rules_as_lagwatch_would(tmp_path: Path) -> None:
    rules = exported(tmp_path)
    group = 'cluster="main",group="indexer",instance="lw:9465",job="lagwatch"'
    tests = {
        "rule_files": [rules.name],
        "evaluation_interval": "10s",
        "tests": [{
            "interval": "10s",
            "input_series": [
                # OK for a minute, then STOP: KafkaGroupStopped has no `for`
                {"series": f"lagwatch_kafka_group_status{{{group}}}", "values": "0x5 3x20"},
                # A collector up for 2 minutes, then never written again
                {"series": 'lagwatch_collector_up{collector="kafka:main",instance="lw:9465",'
                           'job="lagwatch"}', "values": "1x12"},
                # 1 bad event in 20 for the orders pipeline: a 5 % error ratio, 50× its budget
                {"series": 'lagwatch_pipeline_slo_events_total{outcome="good",pipeline="orders"}',
                 "values": "0+19x400"},
                {"series": 'lagwatch_pipeline_slo_events_total{outcome="late",pipeline="orders"}',
                 "values": "0+1x400"},
            ],
            "alert_rule_test": [
                {"eval_time": "50s", "alertname": "KafkaGroupStopped", "exp_alerts": []},
                {"eval_time": "70s", "alertname": "KafkaGroupStopped", "exp_alerts": [{
                    "exp_labels": {"severity": "page", "cluster": "main", "group": "indexer",
                                   "instance": "lw:9465", "job": "lagwatch"},
                    "exp_annotations": {
                        "summary": "Consumer group indexer on main stopped",
                        "runbook_url": "https://wiki.example.com/runbooks#kafkagroupstopped",
                        "dashboard_url": "https://lagwatch.example.com/kafka?cluster=main"
                                         "&group=indexer"},
                }]},
                {"eval_time": "6m", "alertname": "CollectorSilent", "exp_alerts": []},
                {"eval_time": "7m30s", "alertname": "CollectorSilent", "exp_alerts": [{
                    "exp_labels": {"severity": "warning", "collector": "kafka:main",
                                   "instance": "lw:9465", "job": "lagwatch"},
                    "exp_annotations": {
                        "summary": "Collector kafka:main has not run for 5m 30s",
                        "description": "The daemon no longer schedules it, or the store "
                                       "stopped taking writes.",
                        "runbook_url": "https://wiki.example.com/runbooks#collectorsilent"},
                }]},
                # Every window pair burns faster than its factor: the three rules fire
                {"eval_time": "10m", "alertname": "PipelineSLOBurn", "exp_alerts": [
                    {"exp_labels": {"pipeline": "orders", "slo_window": window,
                                    "severity": severity},
                     "exp_annotations": {
                         "summary": f"Pipeline orders burns its freshness budget 50× too fast "
                                    f"({window})",
                         "description": "At this rate the error budget is gone well before "
                                        "the SLO period ends.",
                         "runbook_url": "https://wiki.example.com/runbooks#pipelineslo",
                         "dashboard_url": "https://lagwatch.example.com/pipeline?pipeline=orders"}}
                    for window, severity in (("1h", "page"), ("6h", "page"), ("3d", "ticket"))
                ]},
            ],
        }],
    }  # fmt: skip
    spec = tmp_path / "tests.yml"
    spec.write_text(yaml.safe_dump(tests, sort_keys=False))
    ran = promtool("test", "rules", spec.name, cwd=tmp_path)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "SUCCESS" in ran.stdout
