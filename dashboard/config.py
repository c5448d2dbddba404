"""The `dashboard:` section of the config."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DashboardConfig(BaseModel):
    """Where the dashboard listens; 127.0.0.1 unless you choose otherwise."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8501, ge=1, le=65535)
