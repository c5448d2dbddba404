"""Recorded MySQL/MariaDB answers for the collector's unit tests, and the recorder that makes them.

A recording (``sample_data/mysql/*.json``) maps each statement text to the
rows the server returned: ``{"server": ..., "origin": ..., "statements":
{"SHOW BINARY LOGS": [{"Log_name": ..., "File_size": ...}], ...}}``.

Record a live server's answers (the monitor login is enough):

    python -m tests.support.mysql_replay DSN sample_data/mysql/NAME.json
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lagwatch.collectors.mysql.read import PROBE_SQL, ServerInfo
from lagwatch.collectors.mysql.session import PyMysqlSession, Rows

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data" / "mysql"


class ReplaySession:
    """A Session that answers from a recording and counts what it was asked."""

    def __init__(self, statements: dict[str, Rows]) -> None:
        self.statements = statements
        self.round_trips = 0
        self.executed: list[str] = []

    @classmethod
    def load(cls, name: str) -> ReplaySession:
        """Return a session replaying ``sample_data/mysql/<name>.json``."""
        data = json.loads((SAMPLES / f"{name}.json").read_text())
        return cls(copy.deepcopy(data["statements"]))

    def run(self, statements: Sequence[str]) -> list[Rows]:
        self.round_trips += 1
        self.executed.extend(statements)
        missing = [s for s in statements if s not in self.statements]
        if missing:
            raise KeyError(f"the recording has no answer for {missing}")
        return [copy.deepcopy(self.statements[s]) for s in statements]

    def query(self, sql: str, args: Sequence[Any]) -> Rows:
        """Answer a statement with parameters from ``statements[f"{sql} {list(args)}"]``, else no rows."""
        self.round_trips += 1
        key = f"{sql} {json.dumps(list(args))}"
        self.executed.append(key)
        return copy.deepcopy(self.statements.get(key, []))

    def set_variable(self, name: str, value: str) -> None:
        """Change one row of the recorded SHOW GLOBAL VARIABLES answer (or add it)."""
        key = next(s for s in self.statements if s.startswith("SHOW GLOBAL VARIABLES"))
        rows = [r for r in self.statements[key] if r["Variable_name"] != name]
        rows.append({"Variable_name": name, "Value": value})
        self.statements[key] = rows

    def drop_variable(self, name: str) -> None:
        """Remove one variable from the recorded answer, as an older server would lack it."""
        key = next(s for s in self.statements if s.startswith("SHOW GLOBAL VARIABLES"))
        self.statements[key] = [r for r in self.statements[key] if r["Variable_name"] != name]

    def close(self) -> None:
        pass


def record(dsn: str) -> dict[str, Any]:
    """Return a recording of every statement the collector sends to the server at ``dsn``."""
    session = PyMysqlSession(dsn, 5.0)
    try:
        (probe,) = session.run([PROBE_SQL])
        statements = [PROBE_SQL, *ServerInfo.from_probe(probe).cycle_sql(with_purged_gtids=True)]
        answers = {s: session.run([s])[0] for s in statements}
    finally:
        session.close()
    return {"server": str(probe[0]["version"]), "origin": "recorded live", "statements": answers}


if __name__ == "__main__":
    out = Path(sys.argv[2])
    out.write_text(json.dumps(record(sys.argv[1]), indent=2, default=str) + "\n")
    print(f"wrote {out}")
