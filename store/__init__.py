"""Time-series store: samples, series, rollups, retention and records."""

from store.config import StoreConfig
from store.open import open_store
from store.protocol import Store, StoreUnavailable
from store.sample import Labels, LatestValue, Record, Sample, Series

__all__ = [
    "LatestValue",
    "Labels",
    "Record",
    "Sample",
    "Series",
    "Store",
    "StoreConfig",
    "StoreUnavailable",
    "open_store",
]
