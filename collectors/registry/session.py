"""The one way lagwatch talks to a schema registry: its Confluent-compatible REST API over httpx.

Credentials in the URL (``https://user:password@host/…``) become HTTP basic auth
and never appear in an error: errors name the registry by its scheme, host and
path only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx

from lagwatch.collectors.base import SourceUnreachable

ACCEPT = "application/vnd.schemaregistry.v1+json, application/json;q=0.9"
CCOMPAT = re.compile(r"/apis/ccompat/v\d+$")


class RegistryUnavailable(SourceUnreachable):
    """The registry cannot be reached, timed out, or answered 5xx."""


class RegistryError(Exception):
    """The registry answered a request with a 4xx: ``status``, its ``error_code`` and message."""

    def __init__(self, what: str, status: int, error_code: int | None, message: str) -> None:
        self.status = status
        self.error_code = error_code
        self.message = message
        code = f", error_code {error_code}" if error_code is not None else ""
        super().__init__(f"{what}: HTTP {status}{code}: {message}")


@dataclass(frozen=True)
class Response:
    """One answer: the HTTP status and the body (parsed JSON, or the text when it is not JSON)."""

    status: int
    body: Any

    @property
    def error_code(self) -> int | None:
        code = self.body.get("error_code") if isinstance(self.body, dict) else None
        return code if isinstance(code, int) else None

    @property
    def message(self) -> str:
        if isinstance(self.body, dict) and "message" in self.body:
            return str(self.body["message"])
        return str(self.body)[:300]


def split_url(url: str) -> tuple[str, tuple[str, str] | None]:
    """Return the URL without credentials, and the (user, password) it held, if any."""
    parts = urlsplit(url)
    auth = None
    if parts.username is not None:
        auth = (parts.username, parts.password or "")
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", "")), auth


def server_root(base: str) -> str:
    """Return the server's root URL: ``base`` without a ``/apis/ccompat/vN`` suffix."""
    return CCOMPAT.sub("", base)


def path_of(*parts: str | int) -> str:
    """Return ``/a/b`` with each part URL-quoted (subject names may hold ``/`` or ``:``)."""
    return "".join("/" + quote(str(p), safe="") for p in parts)


class Session:
    """A kept httpx client for one registry; ``get`` returns a Response or raises."""

    def __init__(
        self, name: str, url: str, request_timeout: float, client: httpx.Client | None = None
    ) -> None:
        self.name = name
        self.base, auth = split_url(url)
        self.root = server_root(self.base)
        self._client = client or httpx.Client(
            timeout=request_timeout,
            auth=auth,
            headers={"Accept": ACCEPT},
            follow_redirects=False,
        )

    def request(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        body: Any = None,
        root: bool = False,
    ) -> Response:
        """Return the answer to ``method path`` (below the API, or below the server root)."""
        url = (self.root if root else self.base) + path
        what = f"registry {self.name}: {method} {path}"
        try:
            answer = self._client.request(
                method,
                url,
                params=params,
                content=None if body is None else json.dumps(body),
                headers={"Content-Type": "application/vnd.schemaregistry.v1+json"}
                if body is not None
                else None,
            )
        except httpx.TimeoutException:
            raise RegistryUnavailable(
                f"{what}: no answer within the request timeout; check that {self.base} is up"
            ) from None
        except httpx.HTTPError as exc:
            raise RegistryUnavailable(
                f"{what}: cannot reach {self.base} ({type(exc).__name__}: {_short(exc)}); "
                "check url and that the registry is up"
            ) from None
        try:
            parsed: Any = answer.json()
        except ValueError:
            parsed = answer.text
        response = Response(answer.status_code, parsed)
        if answer.status_code >= 500:
            raise RegistryUnavailable(f"{what}: HTTP {answer.status_code}: {response.message}")
        return response

    def get(self, path: str, params: dict[str, str] | None = None, root: bool = False) -> Response:
        return self.request("GET", path, params, root=root)

    def get_ok(self, path: str, params: dict[str, str] | None = None) -> Any:
        """Return the body of a 2xx answer, or raise RegistryError with the registry's words."""
        response = self.get(path, params)
        if response.status >= 300:
            raise RegistryError(
                f"registry {self.name}: GET {path}",
                response.status,
                response.error_code,
                response.message,
            )
        return response.body

    def close(self) -> None:
        self._client.close()


def _short(exc: Exception) -> str:
    text = str(exc).strip().replace("\n", " ")
    return (text or type(exc).__name__)[:200]
