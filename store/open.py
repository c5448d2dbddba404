"""Open the store a URL names."""

from __future__ import annotations

from lagwatch.store.config import StoreConfig
from lagwatch.store.protocol import Store


def open_store(config: StoreConfig, read_only: bool = False) -> Store:
    """Return the backend for ``config.url``: sqlite:///PATH or postgresql://…."""
    url = config.url.get_secret_value()
    if url.startswith("sqlite:///"):
        from lagwatch.store.sqlite import SqliteStore

        return SqliteStore(url.removeprefix("sqlite:///"), config.retention, read_only)
    from lagwatch.store.postgres import PostgresStore

    return PostgresStore(url, config.retention, read_only)
