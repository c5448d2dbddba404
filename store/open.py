"""Open the store a URL names."""

from __future__ import annotations

from lagwatch.store.config import StoreConfig
from lagwatch.store.protocol import Store


def open_store(config: StoreConfig, read_only: bool = False) -> Store:
    """Return the backend for ``config.url``: sqlite:///PATH or postgresql://….

    With ``remote_write`` set, a writable store also sends its samples there.
    """
    url = config.url.get_secret_value()
    store: Store
    if url.startswith("sqlite:///"):
        from lagwatch.store.sqlite import SqliteStore

        store = SqliteStore(url.removeprefix("sqlite:///"), config.retention, read_only)
    else:
        from lagwatch.store.postgres import PostgresStore

        store = PostgresStore(url, config.retention, read_only)
    if config.remote_write is not None and not read_only:
        # The writer's store also feeds the remote-write endpoint; readers do not.
        from lagwatch.store.remote_write import RemoteWriteStore

        store = RemoteWriteStore(store, config.remote_write)
    return store
