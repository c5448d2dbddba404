"""Pipelines and the synthetic probe: freshness estimated from stored lags, or measured end to end."""

from lagwatch.collectors.probe.collector import (
    ProbeCollector,
    build_pipeline_collectors,
    build_probes,
)
from lagwatch.collectors.probe.config import PipelineConfig, ProbeConfig, SloConfig, TapConfig

__all__ = [
    "PipelineConfig",
    "ProbeCollector",
    "ProbeConfig",
    "SloConfig",
    "TapConfig",
    "build_pipeline_collectors",
    "build_probes",
]
