"""One JSON POST and what its answer means for retrying, shared by the webhook notifiers."""

from __future__ import annotations

import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from lagwatch.alerts.notifiers.base import Result


class WebhookNotifier:
    """What Slack and PagerDuty share: one HTTP client with the delivery timeout, no redirects."""

    merges = False
    threads = False

    def __init__(self, name: str, min_interval: float, timeout: float) -> None:
        self.name = name
        self.min_interval = min_interval
        self._client = httpx.Client(timeout=timeout, follow_redirects=False)

    def close(self) -> None:
        self._client.close()


# Answers that a retry can fix: rate limits, timeouts, the service being unwell.
RETRYABLE = {408, 425, 429}


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Return the seconds a ``Retry-After`` header asks for (number or HTTP date), or None."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def post_json(
    client: httpx.Client,
    url: str,
    payload: dict[str, Any],
    accepted: Callable[[httpx.Response], bool],
    hide: str = "",
) -> Result:
    """POST ``payload`` and classify the answer; ``hide`` (a secret URL) never reaches the detail."""

    def clean(text: str) -> str:
        text = text.replace(hide, "***") if hide else text
        return text.strip().replace("\n", " ")[:300]

    try:
        response = client.post(url, json=payload)
    except httpx.TimeoutException as exc:
        return Result(False, None, clean(f"timed out: {type(exc).__name__}"))
    except httpx.TransportError as exc:
        return Result(False, None, clean(f"cannot connect: {exc or type(exc).__name__}"))
    body = clean(response.text)
    status = response.status_code
    if 200 <= status < 300:
        if accepted(response):
            return Result(True, status, body)
        return Result(False, status, f"unexpected answer {status} {body!r}", permanent=True)
    wait = retry_after(response.headers.get("Retry-After"))
    if status in RETRYABLE or status >= 500:
        return Result(False, status, f"{status} {body}", retry_after=wait)
    # 400 bad payload, 401/403 revoked, 404/410 gone: sending again cannot help.
    return Result(False, status, f"{status} {body}", permanent=True)
