"""Connection settings for the devstack's real PostgreSQL, MariaDB and Kafka.

The settings come from the environment (`eval "$(devstack/env)"`), or from
`devstack/env` itself when they are not set. A service that does not answer
fails the test with the command that starts it: integration tests never skip.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from lagwatch.devstack import devstack_env as devstack_env_settings
from tests.support.private_kafka import PrivateKafka

ROOT = Path(__file__).resolve().parents[2]


_ENV = devstack_env_settings()
# Configs written by tests say ${LAGWATCH_…}: make the settings visible to this
# process and its children, as `eval "$(devstack/env)"` would.
for _key, _value in _ENV.items():
    os.environ.setdefault(_key, _value)


def devstack(key: str) -> str:
    """Return one devstack setting, e.g. devstack("PG_ADMIN_DSN")."""
    return _ENV[f"LAGWATCH_{key}"]


def _require(host: str, port: int, what: str) -> None:
    try:
        socket.create_connection((host, port), timeout=2).close()
    except OSError:
        pytest.fail(f"{what} is not answering on {host}:{port}; start it with `devstack/up`")


@pytest.fixture(scope="session")
def devstack_env() -> dict[str, str]:
    """All devstack settings as LAGWATCH_* variables (for subprocesses and configs)."""
    return dict(_ENV)


@pytest.fixture(scope="session")
def pg_admin_dsn() -> str:
    _require(devstack("PG_HOST"), int(devstack("PG_PORT")), "PostgreSQL")
    return devstack("PG_ADMIN_DSN")


@pytest.fixture(scope="session")
def pg_monitor_dsn(pg_admin_dsn: str) -> str:
    return devstack("PG_MONITOR_DSN")


@pytest.fixture(scope="session")
def pg_store_dsn(pg_admin_dsn: str) -> str:
    return devstack("PG_STORE_DSN")


@pytest.fixture(scope="session")
def mysql_admin_dsn() -> str:
    _require(devstack("MYSQL_HOST"), int(devstack("MYSQL_PORT")), "MariaDB")
    return devstack("MYSQL_ADMIN_DSN")


@pytest.fixture(scope="session")
def mysql_monitor_dsn(mysql_admin_dsn: str) -> str:
    return devstack("MYSQL_MONITOR_DSN")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    bootstrap = devstack("KAFKA_BOOTSTRAP")
    host, _, port = bootstrap.rpartition(":")
    _require(host, int(port), "Kafka")
    return bootstrap


@pytest.fixture(scope="session")
def registry_url() -> str:
    url = devstack("REGISTRY_URL")
    _require(urlsplit(url).hostname or "127.0.0.1", int(devstack("REGISTRY_PORT")),
             "the schema registry")  # fmt: skip
    return url


@pytest.fixture
def unique() -> str:
    """A short random suffix for names of databases, slots, topics and groups."""
    return uuid.uuid4().hex[:8]


@pytest.fixture
def private_kafka(tmp_path: Path, kafka_bootstrap: str) -> Iterator[PrivateKafka]:
    """A Kafka of the test's own, node 1 running (controller and broker), to break at will;
    ``kafka_bootstrap`` first, so the devstack's Kafka jars are known to be there."""
    kafka = PrivateKafka(tmp_path, devstack("KAFKA_LIBS"))
    try:
        kafka.start(1)
        yield kafka
    finally:
        kafka.close()
