"""Log receiver: one JSON line per notification, to a file or to the daemon's log."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from lagwatch.alerts.notifiers.base import Digest, Notification, Result

log = logging.getLogger("lagwatch.alerts.notify")


class LogConfig(BaseModel):
    """`log: {path: FILE}` appends JSON lines to FILE; `log: {}` writes them to the daemon's log."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = None
    min_interval: float = 0.0


class LogNotifier:
    """Writes notifications as JSON lines and keeps them in ``sent``; the fixture tests read."""

    merges = True
    threads = False

    def __init__(self, name: str, config: LogConfig) -> None:
        self.name = name
        self.config = config
        self.min_interval = config.min_interval
        self.sent: list[Notification | Digest] = []
        self._lock = threading.Lock()

    def send(self, notification: Notification | Digest) -> Result:
        if isinstance(notification, Digest):
            line = {"digest": [p.to_json() for p in notification.parts]}
        else:
            line = notification.to_json()
        text = json.dumps(line, sort_keys=True, default=str)
        with self._lock:
            self.sent.append(notification)
            if self.config.path is None:
                log.warning("alert %s", text)
                return Result(True)
            try:
                path = Path(self.config.path)
                path.parent.mkdir(parents=True, exist_ok=True)
                with path.open("a") as out:
                    out.write(text + "\n")
                    out.flush()
                    os.fsync(out.fileno())
            except OSError as exc:
                return Result(
                    False, None, f"cannot write {self.config.path}: {exc.strerror or exc}"
                )
        return Result(True)

    def close(self) -> None:
        pass


def build(name: str, config: LogConfig, timeout: float) -> LogNotifier:
    return LogNotifier(name, config)
