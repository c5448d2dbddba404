"""The daemon on a brand-new store: collectors' read-only view finds empty tables, not an error."""

from __future__ import annotations

from pathlib import Path

from lagwatch.config import load
from lagwatch.daemon import Daemon


def test_new_store_reads_as_empty_before_the_first_write(tmp_path: Path) -> None:
    path = tmp_path / "lagwatch.yaml"
    path.write_text(f"store:\n  url: sqlite:///{tmp_path / 'new' / 'lagwatch.db'}\n")
    daemon = Daemon(load(path))
    try:
        view = daemon.context.store
        assert view is not None and view is not daemon.store
        assert view.list_records("kafka.state") == []
        assert view.latest() == []
    finally:
        daemon.stop()
