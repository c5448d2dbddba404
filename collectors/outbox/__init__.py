"""Outbox tables on PostgreSQL or MySQL/MariaDB: backlog, oldest pending row, publish rate.

Not a source kind of its own: a source's ``build`` adds an outbox collector for
its ``outbox:`` tables (see ``collector.py``).
"""

from lagwatch.collectors.outbox.collector import OutboxCollector, build
from lagwatch.collectors.outbox.config import OutboxTable
from lagwatch.collectors.outbox.read import MYSQL, POSTGRES, Dialect

__all__ = ["MYSQL", "POSTGRES", "Dialect", "OutboxCollector", "OutboxTable", "build"]
