"""MySQL / MariaDB source: binlog files, retention and CDC settings, and where each reader stands."""

from collectors.mysql.collector import MysqlCollector, MysqlSource, build
from collectors.mysql.readers import TAP_POSITION_NAMESPACE, BinlogReader
from collectors.mysql.session import connect_args

__all__ = [
    "TAP_POSITION_NAMESPACE",
    "BinlogReader",
    "MysqlCollector",
    "MysqlSource",
    "build",
    "connect_args",
]
