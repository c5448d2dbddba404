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


class BasicAuth(BaseModel):
    """HTTP basic auth for the remote-write endpoint."""

    model_config = ConfigDict(extra="forbid")

    username: str
    password: SecretStr = Field(description="${ENV} or password_file")


class RemoteWriteConfig(BaseModel):
    """Send every stored sample to a Prometheus remote-write endpoint as well (off unless set)."""

    model_config = ConfigDict(extra="forbid")

    url: SecretStr = Field(description="the endpoint, e.g. http://vm:8428/api/v1/write")
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description="extra request headers; values may be ${ENV} or NAME_file"
    )
    basic_auth: BasicAuth | None = None
    batch: int = Field(2000, ge=1, le=100_000, description="most samples per request")
    buffer_samples: int = Field(
        100_000, ge=100, description="samples held while the endpoint fails; past it the oldest go"
    )
    timeout: Duration = 10.0
    max_backoff: Duration = Field(
        30.0, description="longest wait between retries of a failing send"
    )

    @field_validator("url")
    @classmethod
    def _http(cls, url: SecretStr) -> SecretStr:
        if not url.get_secret_value().startswith(("http://", "https://")):
            raise ValueError("expected an http:// or https:// remote-write URL")
        return url


class StoreConfig(BaseModel):
    """Where samples and records live: a SQLite file or a PostgreSQL database."""

    model_config = ConfigDict(extra="forbid")

    url: SecretStr = SecretStr("sqlite:///.lagwatch/lagwatch.db")
    retention: Retention = Retention()
    buffer_samples: int = Field(
        1_000_000, ge=1000, description="samples held in memory while the store is unavailable"
    )
    maintain_every: Duration = 60.0
    remote_write: RemoteWriteConfig | None = None

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
