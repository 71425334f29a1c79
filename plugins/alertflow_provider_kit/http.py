"""HTTP replies as send outcomes, and the aiohttp session a provider sends through."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from alertflow.outcomes import DeliveryError, PermanentFailure, RateLimited, RetryLater
from alertflow.providers import ProviderContext
from alertflow.providers.netguard import RefusedAddress

# A provider's Retry-After is honoured up to this many seconds: a buggy or hostile peer must
# not park a delivery for days; the queue's own backoff takes over after that.
MAX_RETRY_AFTER_SECONDS = 300.0
# How much of a reply body we read: enough for any API's error message, and a misbehaving
# endpoint (a webhook URL is tenant-supplied) cannot make us buffer megabytes.
MAX_REPLY_BYTES = 64 * 1024
# Connections of a session of our own when the channel's concurrency is unknown: aiohttp's default.
DEFAULT_CONNECTION_LIMIT = 100


@dataclass(frozen=True)
class HttpReply:
    """What we keep of a provider's HTTP reply."""

    status: int
    text: str
    retry_after: str | None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


async def post(
    session: aiohttp.ClientSession, url: str, *, what: str, timeout: float, **kwargs: Any
) -> HttpReply:
    """POST and read the reply; a transport failure or timeout raises :class:`RetryLater`.

    Redirects are not followed: an API or webhook that moved must be reconfigured, and
    following them would re-send the body to wherever the redirect points.
    """
    try:
        async with session.post(
            url, timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False, **kwargs
        ) as response:
            body = await response.content.read(MAX_REPLY_BYTES)
            return HttpReply(
                response.status,
                body.decode("utf-8", "replace"),
                response.headers.get("Retry-After"),
            )
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RetryLater(f"{what}: {type(exc).__name__}: {exc}") from exc


def failure_text(exc: BaseException) -> str:
    """What went wrong on the wire, in a few words: the innermost cause of a chained error
    (requests wraps urllib3's, which wraps the socket's), without the URLs the outer layers
    add - a URL may carry credentials, and an attempt's error is read by every member."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = exc.__cause__ or getattr(exc, "reason", None) or exc.__context__
        if not isinstance(inner, BaseException):
            break
        exc = inner
    return str(exc) if isinstance(exc, RefusedAddress) else f"{type(exc).__name__}: {exc}"


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait, from a ``Retry-After`` of delta-seconds or an HTTP-date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive one came without a zone
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def json_object(text: str) -> dict[str, Any]:
    """A reply body as a JSON object; empty when it is not one (say, a proxy's HTML error page)."""
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def outcome_for_status(status: int, detail: str, retry_after: str | None = None) -> DeliveryError:
    """The outcome of a non-2xx HTTP reply from a provider's API.

    401 counts as transient: it means the operator's credentials were refused, which is a
    configuration to fix, not a fault of the message; retrying lets the deliveries reach the
    dead-letter queue, from which they can be replayed once the credentials are right.
    """
    if status == 429:
        return RateLimited(detail, after=retry_after_seconds(retry_after))
    if status in (401, 408) or status >= 500:
        return RetryLater(detail, after=retry_after_seconds(retry_after))
    return PermanentFailure(detail)


class OwnedSession:
    """The core's shared aiohttp session, or one of our own when the core lends none; both
    connect only where the provider's guard allows."""

    def __init__(self, context: ProviderContext) -> None:
        self._shared = context.http
        self._guard = context.guard
        self._limit = context.concurrency or DEFAULT_CONNECTION_LIMIT
        self._own: aiohttp.ClientSession | None = None

    def get(self) -> aiohttp.ClientSession:
        if self._shared is not None:
            return self._shared
        if self._own is None or self._own.closed:
            # Created on first use, inside the running loop, as aiohttp requires.
            self._own = self._guard.session(self._limit)
        return self._own

    async def close(self) -> None:
        """Close the session we made; the shared one belongs to the core."""
        if self._own is not None:
            await self._own.close()
            self._own = None
