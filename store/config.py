"""The `store:` section of the config."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from lagwatch.store.types import Duration


class Retention(BaseModel):
    """How long each resolution is kept."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    raw: Duration = 7 * 86400.0
    minute: Duration = Field(90 * 86400.0, alias="1m")
    hour: Duration = Field(2 * 365 * 86400.0, alias="1h")


class StoreConfig(BaseModel):
    """Where samples and records live: a SQLite file or a PostgreSQL database."""

    model_config = ConfigDict(extra="forbid")

    url: SecretStr = SecretStr("sqlite:///.lagwatch/lagwatch.db")
    retention: Retention = Retention()
    buffer_samples: int = Field(
        1_000_000, ge=1000, description="samples held in memory while the store is unavailable"
    )
    maintain_every: Duration = 60.0

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: SecretStr) -> SecretStr:
        text = url.get_secret_value()
        if not text.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError(
                "expected sqlite:///PATH or postgresql://USER@HOST/DB "
                "(put the password in ${ENV} or a *_file, not in the file itself)"
            )
        return url
