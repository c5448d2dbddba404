"""`lagwatch rules test` and `lagwatch silence …` as a user runs them, and alert config errors."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "sample_data" / "alerts"


def lagwatch(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lagwatch", *args], cwd=cwd, capture_output=True, text=True,
        timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "USER": "ana"},
    )  # fmt: skip


def test_rules_test_prints_what_would_fire_and_when() -> None:
    """Given a recorded incident where search-indexer stops for 4 minutes."""
    out = lagwatch(
        "rules", "test", str(SAMPLES / "rules.yaml"), "--data", str(SAMPLES / "group_stops.jsonl")
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("2 rules over 300 samples")
    events = [line.split()[:3] for line in lines[1:-1]]
    assert events == [
        [
            "2023-11-14T22:15:20Z",
            "FIRING",
            'SearchIndexerStopped{cluster="main",group="search-indexer"}',
        ],
        [
            "2023-11-14T22:17:10Z",
            "PENDING",
            'AnyGroupBehind{cluster="main",group="search-indexer"}',
        ],
        ["2023-11-14T22:17:40Z", "FIRING", 'AnyGroupBehind{cluster="main",group="search-indexer"}'],
        [
            "2023-11-14T22:19:20Z",
            "RESOLVED",
            'AnyGroupBehind{cluster="main",group="search-indexer"}',
        ],
        [
            "2023-11-14T22:19:20Z",
            "RESOLVED",
            'SearchIndexerStopped{cluster="main",group="search-indexer"}',
        ],
    ]
    assert "no commit for 10s while 183 messages wait" in lines[1]
    assert lines[-1] == "would fire: AnyGroupBehind, SearchIndexerStopped"


def test_rules_test_names_the_file_line_of_a_bad_rule(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "rules:\n  - name: Ok\n    expr: up == 0\n  - name: Bad\n    expr: up{a=b} > 1\n"
    )
    out = lagwatch("rules", "test", str(rules), "--data", str(SAMPLES / "group_stops.jsonl"))
    assert out.returncode == 2
    assert out.stderr.startswith(f"error: {rules}:5: rules[1].expr: cannot read the label matchers")


def test_rules_test_names_the_line_of_bad_data(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text('{"name": "up", "labels": {}, "value": 1, "ts": 1}\n{"name": "up"}\n')
    out = lagwatch("rules", "test", str(SAMPLES / "rules.yaml"), "--data", str(data))
    assert out.returncode == 2
    assert f"{data}:2: not a sample" in out.stderr


def test_silences_add_list_expire(tmp_path: Path) -> None:
    config = tmp_path / "lagwatch.yaml"
    config.write_text(f"store: {{url: 'sqlite:///{tmp_path}/lagwatch.db'}}\n")
    added = lagwatch("silence", "add", "alertname=KafkaGroupStopped", "group=~search-.*",
                     "--for", "90m", "-m", "reindexing", "-c", str(config))  # fmt: skip
    assert added.returncode == 0, added.stderr
    silence_id = added.stdout.split()[1].rstrip(":")
    assert 'alertname="KafkaGroupStopped" group=~"search-.*"' in added.stdout
    assert "(1h30m) by ana: reindexing" in added.stdout

    listed = lagwatch("silence", "list", "--json", "-c", str(config))
    [row] = json.loads(listed.stdout)
    assert (row["id"], row["author"], row["comment"], row["active"]) == (
        silence_id, "ana", "reindexing", True
    )  # fmt: skip

    expired = lagwatch("silence", "expire", silence_id, "-c", str(config))
    assert expired.returncode == 0, expired.stderr
    assert "no silences in force" in lagwatch("silence", "list", "-c", str(config)).stdout
    assert "expired" in lagwatch("silence", "list", "--all", "-c", str(config)).stdout

    assert lagwatch("silence", "expire", "nope", "-c", str(config)).returncode == 2
    bad = lagwatch("silence", "add", "just-a-word", "-m", "x", "-c", str(config))
    assert bad.returncode == 2 and "name=value" in bad.stderr
    assert lagwatch("silence", "add", "group=a", "-c", str(config)).returncode == 2  # no comment


def test_alert_config_errors_name_the_line(tmp_path: Path) -> None:
    config = tmp_path / "lagwatch.yaml"
    config.write_text(
        "alerts:\n"
        "  receivers:\n"
        "    - {name: team, slack: {webhook_url: 'https://hooks.example/x'}}\n"
        "  routes:\n"
        "    - {match: {severity: page}, receiver: oncall}\n"
        "  rules:\n"
        "    - name: Broken\n"
        "      expr: lagwatch_collector_up = 0\n"
    )
    out = lagwatch("check", "-c", str(config))
    assert out.returncode == 2
    assert f"{config}:8: alerts.rules[0].expr: cannot read expr" in out.stderr
    config.write_text(config.read_text().replace("= 0", "== 0"))
    out = lagwatch("check", "-c", str(config))
    assert out.returncode == 2
    assert f"{config}:1: alerts: routes name receivers that are not defined: oncall" in out.stderr


def test_rules_test_reads_the_configured_store_without_data(tmp_path: Path) -> None:
    """Given the incident in a store (shifted to the last 10 minutes), the replay finds it."""
    from lagwatch.alerts.replay import read_samples
    from lagwatch.store import Sample
    from lagwatch.store.sqlite import SqliteStore

    samples = read_samples((SAMPLES / "group_stops.jsonl").read_text().splitlines(), "sample")
    shift = time.time() - max(s.ts for s in samples) - 1
    store = SqliteStore(tmp_path / "lagwatch.db")
    store.write([Sample(s.name, s.labels, s.value, s.ts + shift, s.note) for s in samples])
    store.close()
    config = tmp_path / "lagwatch.yaml"
    config.write_text(f"store: {{url: 'sqlite:///{tmp_path}/lagwatch.db'}}\n")
    out = lagwatch("rules", "test", str(SAMPLES / "rules.yaml"), "-c", str(config), "--since", "1h")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "would fire: AnyGroupBehind, SearchIndexerStopped"
