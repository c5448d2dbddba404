"""lagwatch: end-to-end lag and freshness monitoring for event pipelines."""

__version__ = "0.1.0"
