"""Time-series store: samples, series, rollups, retention and records."""

from lagwatch.store.config import StoreConfig
from lagwatch.store.open import open_store
from lagwatch.store.protocol import Store, StoreUnavailable
from lagwatch.store.sample import Labels, LatestChanges, LatestValue, Record, Row, Sample, Series

__all__ = [
    "LatestChanges",
    "LatestValue",
    "Labels",
    "Record",
    "Row",
    "Sample",
    "Series",
    "Store",
    "StoreConfig",
    "StoreUnavailable",
    "open_store",
]
