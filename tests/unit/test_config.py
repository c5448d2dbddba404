"""Config errors name the file, line and key and say what to do; secrets never leak."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lagwatch.config import ConfigError, load

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "lagwatch.yaml"
    path.write_text(text)
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(path)
    return caught.value.problems


def test_defaults_need_no_file_content(tmp_path: Path) -> None:
    config = load(write(tmp_path, ""))
    assert config.store.url.get_secret_value().startswith("sqlite:///")
    assert config.dashboard.host == "127.0.0.1"
    assert config.store.retention.raw == 7 * 86400


def test_durations_and_env_secrets_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ORDERS_DSN", "postgresql://mon:s3cret-pw@db/orders")
    path = write(
        tmp_path,
        "store: {retention: {raw: 2d, 1m: 30d, 1h: 1y}}\n"
        "sources:\n"
        "  - {name: orders, kind: postgres, dsn: '${ORDERS_DSN}', interval: 250ms}\n",
    )
    config = load(path)
    assert config.sources[0].interval == 0.25
    assert config.store.retention.minute == 30 * 86400
    assert "s3cret-pw" not in repr(config) and "s3cret-pw" not in str(config.model_dump())
    assert "s3cret-pw" in config.secrets()


def test_unknown_key_names_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "store:\n  url: sqlite:///x.db\n  retention_days: 3\n")
    [line] = problems(path)
    assert line.startswith(f"{path}:3: store.retention_days: unknown key")


def test_wrong_type_and_unknown_kind(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sources:\n"
        "  - name: a\n"
        "    kind: postgres\n"
        "    dsn: postgresql://x@y/z\n"
        "    interval: often\n"
        "  - name: b\n"
        "    kind: oracle\n",
    )
    found = problems(path)
    assert any(p.startswith(f"{path}:5: sources[0].interval: expected a duration") for p in found)
    assert any(p.startswith(f"{path}:7: sources[1].kind: unknown kind 'oracle'") for p in found)


def test_missing_env_var_and_unreadable_secret_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "sources:\n"
        "  - {name: a, kind: postgres, dsn: '${LAGWATCH_TEST_SURELY_UNSET}'}\n"
        "  - name: b\n"
        "    kind: mysql\n"
        "    dsn_file: missing/secret\n",
    )
    found = problems(path)
    assert found[0].startswith(
        f"{path}:2: sources[0].dsn: environment variable LAGWATCH_TEST_SURELY_UNSET"
    )
    assert found[1].startswith(f"{path}:5: sources[1].dsn_file: cannot read secret file")
    assert "create it or fix the path" in found[1]


def test_secret_file_is_read_relative_to_config(tmp_path: Path) -> None:
    (tmp_path / "dsn").write_text("mysql://mon:file-pw@127.0.0.1/db\n")
    config = load(write(tmp_path, "sources:\n  - {name: b, kind: mysql, dsn_file: dsn}\n"))
    assert config.sources[0].dsn.get_secret_value() == "mysql://mon:file-pw@127.0.0.1/db"


def test_invalid_yaml_and_duplicate_names(tmp_path: Path) -> None:
    assert problems(write(tmp_path, "store: [\n"))[0].startswith(
        f"{path_of(tmp_path)}:2: not valid YAML"
    )
    dupes = write(
        tmp_path,
        "sources:\n  - {name: a, kind: postgres, dsn: 'postgresql://x@y/z'}\n"
        "  - {name: a, kind: mysql, dsn: 'mysql://x@y/z'}\n",
    )
    assert "names must be unique, repeated: a" in problems(dupes)[0]


def path_of(tmp_path: Path) -> Path:
    return tmp_path / "lagwatch.yaml"


def test_cli_exits_2_on_bad_config_and_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "sources:\n  - {name: a, kind: postgres}\n")
    for command in (["check"], ["collect", "--once"], ["snapshot", "--json"], ["run"]):
        done = subprocess.run(
            [sys.executable, "-m", "lagwatch", *command, "-c", str(path)],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
        assert done.returncode == 2, (command, done.stderr)
        assert f"{path}:2: sources[0].dsn: required key is missing" in done.stderr


def test_cli_exits_2_on_missing_config_file(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lagwatch", "check", "-c", str(tmp_path / "nope.yaml")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert done.returncode == 2 and "cannot read config" in done.stderr
