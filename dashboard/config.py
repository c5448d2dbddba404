"""The `dashboard:` section of the config: where it listens and who may look."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from lagwatch.store.types import Duration


class LoginConfig(BaseModel):
    """Who may open the dashboard.

    ``method: auto`` (the default) asks for nothing when the dashboard binds a
    loopback address and for the password when it binds anything else.
    ``password`` is read from ``${ENV}`` or ``password_file``; ``oidc`` uses
    Streamlit's OpenID Connect login with the ``[auth]`` settings in
    ``secrets_file`` (needs ``pip install 'lagwatch[auth]'``).
    """

    model_config = ConfigDict(extra="forbid")

    method: Literal["auto", "none", "password", "oidc"] = "auto"
    password: SecretStr | None = None
    oidc_provider: str | None = Field(
        None, description="provider name under [auth.NAME] in secrets_file; empty: [auth] itself"
    )
    secrets_file: str | None = Field(None, description="Streamlit secrets.toml with [auth]")
    session_timeout: Duration = 12 * 3600.0

    def effective(self, host: str) -> str:
        """Return the method in force when bound to ``host``: none, password or oidc."""
        if self.method != "auto":
            return self.method
        return "none" if is_loopback(host) else "password"


class DashboardConfig(BaseModel):
    """Where the dashboard listens (127.0.0.1 unless you choose otherwise) and its login."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(8501, ge=1, le=65535)
    login: LoginConfig = LoginConfig()

    @model_validator(mode="after")
    def _login_complete(self) -> DashboardConfig:
        method = self.login.effective(self.host)
        if method == "password" and self.login.password is None:
            raise ValueError(
                f"login: the dashboard binds {self.host}, so it asks for a password; set "
                "dashboard.login.password (as ${ENV} or password_file), or use "
                "login.method: oidc, or login.method: none to open it to anyone who can reach it"
            )
        if method == "oidc" and not self.login.secrets_file:
            raise ValueError(
                "login: method oidc needs dashboard.login.secrets_file, a Streamlit "
                "secrets.toml with an [auth] section (redirect_uri, cookie_secret, client_id, "
                "client_secret, server_metadata_url)"
            )
        return self


def is_loopback(host: str) -> bool:
    """Return True when ``host`` is only reachable from this machine."""
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
