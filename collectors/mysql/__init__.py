"""MySQL / MariaDB source: binlog files, retention and CDC settings, and where each reader stands."""

from lagwatch.collectors.base import SourceKind
from lagwatch.collectors.mysql.collector import MysqlCollector, build
from lagwatch.collectors.mysql.config import BinlogReader, MysqlSource
from lagwatch.collectors.mysql.pipeline import PIPELINE, PROBE
from lagwatch.collectors.mysql.readers import TAP_POSITION_NAMESPACE
from lagwatch.collectors.mysql.session import connect_args

KIND = SourceKind("mysql", MysqlSource, build, "mysql", pipeline=PIPELINE, probe=PROBE)

__all__ = [
    "KIND",
    "TAP_POSITION_NAMESPACE",
    "BinlogReader",
    "MysqlCollector",
    "MysqlSource",
    "build",
    "connect_args",
]
