"""lagwatch's own CDC tap: reads the PostgreSQL WAL (pgoutput) or the MySQL/MariaDB binlog.

A tap turns each committed row change into a `Change` and hands it to a
callback; `relay.KafkaRelay` is one such callback (publish to a topic), the
probe is another (time the probe rows). Taps never write to the lagwatch store.
"""

from lagwatch.collectors.tap.change import Change, ChangeHandler, Tap, TapPosition

__all__ = ["Change", "ChangeHandler", "Tap", "TapPosition"]
