"""Schema registry: payload checks of sampled messages, the registry's governance, the catalog.

Not a `sources:` kind: its own `registries:` section, each entry naming the
`kafka:` cluster whose topics it serves.
"""

from lagwatch.collectors.registry.collector import RegistryCollector, build
from lagwatch.collectors.registry.config import PolicyConfig, RegistryConfig

__all__ = ["PolicyConfig", "RegistryCollector", "RegistryConfig", "build"]
