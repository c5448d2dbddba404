"""Pipelines and the synthetic probe: freshness estimated from stored lags, or measured end to end.

``config.py`` (the `pipelines:` and `probes:` models), ``pipeline.py`` (cross-section
checks, the freshness estimate), ``collector.py`` (the probe), ``book.py``,
``table.py``, ``trace.py``, ``watch.py``. What a source kind adds to them lives in
that kind's own package (``PipelineSupport``, ``ProbeSupport``).
"""
