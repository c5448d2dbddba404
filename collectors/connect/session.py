"""The one way lagwatch talks to a Kafka Connect REST API, and its error text."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

import httpx

from lagwatch.collectors.connect.config import ConnectCluster

NOTE_LIMIT = 300

# Config keys whose values are secrets: never shown, never stored.
SECRET_KEY = re.compile(r"password|secret|key", re.I)
# `password=…`, `"secret": "…"`, `api.key: …` inside free text (traces, error bodies).
_SECRET_IN_TEXT = re.compile(
    r"""(?P<k>["']?[\w.\-]*(?:password|secret|key)[\w.\-]*["']?\s*[=:]\s*)(?P<v>"[^"]*"|'[^']*'|[^\s,;}\]]+)""",
    re.I,
)
MASK = "***"


class ConnectError(Exception):
    """Kafka Connect could not be reached or answered with an error; the message says which."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def error_text(exc: BaseException) -> str:
    """Return an HTTP (or other) error as one line, without credentials."""
    if isinstance(exc, httpx.TimeoutException):
        text = f"timed out ({type(exc).__name__})"
    elif isinstance(exc, httpx.ConnectError):
        text = f"connection failed: {exc}"
    elif isinstance(exc, httpx.HTTPError):
        text = f"{type(exc).__name__}: {exc}"
    else:
        text = str(exc) or type(exc).__name__
    return mask_text(" ".join(text.split()))


def mask_config(config: Mapping[str, Any]) -> dict[str, str]:
    """Return a connector config with every password/secret/key value masked."""
    return {k: MASK if SECRET_KEY.search(k) else str(v) for k, v in config.items()}


def secret_values(config: Mapping[str, Any]) -> list[str]:
    """Return the non-empty values of a config's password/secret/key entries, longest first."""
    found = {str(v) for k, v in config.items() if SECRET_KEY.search(k) and str(v).strip()}
    return sorted(found, key=len, reverse=True)


def mask_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Return ``text`` with known secret values and ``key=value`` secrets masked."""
    for secret in secrets:
        if len(secret) >= 3:
            text = text.replace(secret, MASK)
    return _SECRET_IN_TEXT.sub(lambda m: m.group("k") + MASK, text)


def short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= NOTE_LIMIT else text[: NOTE_LIMIT - 1] + "…"


class ConnectSession:
    """An httpx client on one Connect cluster's REST API (basic auth when configured).

    Thread-safe: the offsets requests of a cycle share it from several threads.
    """

    def __init__(self, config: ConnectCluster, client: httpx.Client | None = None) -> None:
        self.config = config
        self.base = config.base_url
        auth = None
        if config.username is not None:
            secret = config.password.get_secret_value() if config.password else ""
            auth = httpx.BasicAuth(config.username, secret)
        self._client = client or httpx.Client(
            base_url=self.base,
            auth=auth,
            timeout=config.request_timeout,
            limits=httpx.Limits(
                max_connections=config.concurrency + 2,
                max_keepalive_connections=config.concurrency + 2,
            ),
            headers={"Accept": "application/json"},
        )

    def get(self, path: str, params: Any = None) -> Any:
        """Return the JSON body of ``GET path``; raise ConnectError naming the cluster and the fix."""
        where = f"Kafka Connect {self.config.name} ({self.base})"
        try:
            response = self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise ConnectError(
                f"cannot reach {where}: {error_text(exc)}; check url and that a worker is up"
            ) from None
        if response.status_code in (401, 403):
            raise ConnectError(
                f"{where} refused lagwatch (HTTP {response.status_code}); check username and "
                "password",
                response.status_code,
            )
        if response.status_code != 200:
            raise ConnectError(
                f"{where} answered HTTP {response.status_code} for {path}: "
                f"{short(mask_text(_message(response)))}",
                response.status_code,
            )
        try:
            return response.json()
        except ValueError:
            raise ConnectError(f"{where} sent a body that is not JSON for {path}") from None

    def close(self) -> None:
        self._client.close()


def connector_path(name: str, tail: str = "") -> str:
    return f"/connectors/{quote(name, safe='')}{tail}"


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return response.text[:200]
