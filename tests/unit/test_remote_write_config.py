"""store.remote_write: read from YAML with ${ENV} and *_file secrets, redacted, and the wire format."""

from __future__ import annotations

from pathlib import Path

import cramjam
import pytest

from lagwatch.config import load
from lagwatch.store import Sample
from lagwatch.store.remote_write import WriteRequest, decode, encode


def test_remote_write_keys_take_secrets_from_env_and_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LW_TEST_RW_TOKEN", "tok-123")
    (tmp_path / "rw.pass").write_text("pw-456\n")
    path = tmp_path / "lagwatch.yaml"
    path.write_text(
        "store:\n"
        f"  url: sqlite:///{tmp_path / 'db'}\n"
        "  remote_write:\n"
        "    url: http://127.0.0.1:8428/api/v1/write\n"
        "    headers: {Authorization: 'Bearer ${LW_TEST_RW_TOKEN}'}\n"
        f"    basic_auth: {{username: lw, password_file: {tmp_path / 'rw.pass'}}}\n"
        "    batch: 500\n"
        "    buffer_samples: 5000\n"
        "    timeout: 3s\n"
        "    max_backoff: 1m\n"
    )
    config = load(path)
    rw = config.store.remote_write
    assert rw is not None
    assert rw.headers["Authorization"].get_secret_value() == "Bearer tok-123"
    assert rw.basic_auth is not None and rw.basic_auth.password.get_secret_value() == "pw-456"
    assert (rw.batch, rw.buffer_samples, rw.timeout, rw.max_backoff) == (500, 5000, 3.0, 60.0)
    assert {"Bearer tok-123", "pw-456"} <= set(config.secrets())  # redacted from logs


def test_write_request_is_snappy_protobuf_one_series_per_label_set() -> None:
    samples = [
        Sample.of("lagwatch_x", 2.5, 1_700_000_000.123, topic="t", partition="0"),
        Sample.of("lagwatch_x", 3.5, 1_700_000_010.0, topic="t", partition="0"),
        Sample.of("lagwatch_x", float("inf"), 1_700_000_000.0, topic="t", partition="1"),
    ]
    body = encode(samples)
    request = WriteRequest()
    request.ParseFromString(bytes(cramjam.snappy.decompress_raw(body)))
    assert len(request.timeseries) == 2
    first = request.timeseries[0]
    assert [(label.name, label.value) for label in first.labels] == [
        ("__name__", "lagwatch_x"),
        ("partition", "0"),
        ("topic", "t"),
    ]
    assert [(s.timestamp, s.value) for s in first.samples] == [
        (1_700_000_000_123, 2.5),
        (1_700_000_010_000, 3.5),
    ]
    assert decode(body) == samples
