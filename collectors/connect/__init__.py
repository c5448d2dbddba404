"""Kafka Connect cluster: connector and task states, restarts, workers, and Debezium source lag."""

from lagwatch.collectors.connect.collector import ConnectCollector, build
from lagwatch.collectors.connect.config import ConnectCluster, check_connect
from lagwatch.collectors.connect.offsets import EXTRAS_KEY, Endpoint, endpoints

__all__ = [
    "EXTRAS_KEY",
    "ConnectCluster",
    "ConnectCollector",
    "Endpoint",
    "build",
    "check_connect",
    "endpoints",
]
