"""The `alerts:` section of the config (rules, receivers, routes grow in their own issue)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class AlertsConfig(BaseModel):
    """Receivers and routes for notifications."""

    model_config = ConfigDict(extra="forbid")

    receivers: list[dict[str, Any]] = []
    routes: list[dict[str, Any]] = []
