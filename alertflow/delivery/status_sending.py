"""Sending one status event to one endpoint, signed as the Standard Webhooks specification
says (https://www.standardwebhooks.com): ``webhook-id``, ``webhook-timestamp`` and
``webhook-signature`` = ``v1,`` + base64(HMAC-SHA256(key, "{id}.{timestamp}.{body}")), where
the key is the base64 after ``whsec_`` in the secret. During a secret's rollover the header
carries a signature by each secret, space-separated, so a receiver holding either verifies.

Used by the built-in ``status_webhooks`` provider (queued events) and by
``POST /v1/webhooks/{id}/test`` (sent at once); both record every attempt.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from ..config import WebhooksConfig
from ..outcomes import DeliveryError, PermanentFailure, RateLimited, RetryLater, Sent, clip
from ..providers.netguard import RefusedAddress
from ..providers.sealing import Sealer, Unsealable
from ..storage import webhook_endpoints
from ..storage.database import Database
from ..storage.webhook_endpoints import AttemptRow, Endpoint
from . import status_events

SECRET_PREFIX = "whsec_"
# The specification asks for 24 to 64 bytes of key; 32 is HMAC-SHA256's own block of strength.
SECRET_BYTES = 32
# Where a provider finds this in ProviderContext.extras.
EXTRAS_KEY = "status_webhooks"
USER_AGENT = "AlertFlow-StatusWebhooks/1"
HOUR = 3600.0


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``body`` under ``secret`` (``whsec_...``)."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


@dataclass(frozen=True)
class Sending:
    """What sending needs from the server: its sealer, ``[webhooks]`` and its clock."""

    sealer: Sealer
    config: WebhooksConfig
    clock: Callable[[], float] = time.time

    def seal(self, tenant_id: str, endpoint_id: str, secret: str) -> str:
        return self.sealer.seal(secret, _context(tenant_id, endpoint_id))

    def signing_secrets(self, endpoint: Endpoint, now: float) -> list[str]:
        """The secrets that sign now: the current one, and the one before it while it rolls over."""
        context = _context(endpoint.tenant_id, endpoint.id)
        keys = [self.sealer.unseal(endpoint.secret, context)]
        if endpoint.previous_secret and endpoint.previous_until and endpoint.previous_until > now:
            # A secret sealed under a server.secret_key since changed is what a rotation replaces.
            with contextlib.suppress(Unsealable):
                keys.append(self.sealer.unseal(endpoint.previous_secret, context))
        return keys

    @property
    def disable_after(self) -> float | None:
        hours = self.config.disable_after_hours
        return hours * HOUR if hours > 0 else None


def _context(tenant_id: str, endpoint_id: str) -> str:
    # Bound to its endpoint: a sealed secret copied to another row does not open.
    return f"{tenant_id}/webhook/{endpoint_id}"


@dataclass(frozen=True)
class Result:
    """An attempt's outcome as the queue takes it, and the row it leaves for /deliveries."""

    outcome: Sent | DeliveryError
    attempt: AttemptRow
    disabled: bool


def outcome_of(status: int) -> Sent | DeliveryError:
    """2xx is delivered; 410 Gone means the receiver wants no more (the endpoint is disabled
    at once); any other reply is tried again, as the specification recommends."""
    if 200 <= status < 300:
        return Sent()
    if status == 410:
        return PermanentFailure(f"HTTP {status}: the endpoint is gone")
    if status == 429:
        return RateLimited(f"HTTP {status}")
    return RetryLater(f"HTTP {status}")


async def send(
    http: aiohttp.ClientSession,
    database: Database,
    sending: Sending,
    endpoint: Endpoint,
    event_id: str,
    event: dict[str, Any],
) -> Result:
    """POST ``event`` to ``endpoint`` once, signed; record the attempt and follow the
    endpoint's failure streak (disabling it once failing for ``disable_after_hours``)."""
    payload = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
    now = sending.clock()
    started = time.monotonic()
    try:
        status, outcome = await _post(http, sending, endpoint, event_id, payload, now)
    except Unsealable:
        status, outcome = None, PermanentFailure("the secret was sealed under another server.secret_key: rotate it")
    latency_ms = round((time.monotonic() - started) * 1000, 3)
    error = None if isinstance(outcome, Sent) else outcome.error
    attempt = AttemptRow(endpoint.id, endpoint.tenant_id, event_id, event["type"], now, status, latency_ms, error)
    # Gone (410) or refused by the guard: no later try can succeed, so stop at once.
    disable_after = 0.0 if isinstance(outcome, PermanentFailure) else sending.disable_after
    reason = f"disabled after failing: {error}"
    disabled = await database.write(lambda tx: webhook_endpoints.record_attempt(tx, attempt, disable_after, reason))
    if disabled:
        status_events.forget(endpoint.tenant_id)
    return Result(outcome, attempt, disabled)


async def _post(
    http: aiohttp.ClientSession, sending: Sending, endpoint: Endpoint, event_id: str, payload: bytes, now: float
) -> tuple[int | None, Sent | DeliveryError]:
    """The reply's status (None when none came) and what it means for the queue."""
    timestamp = int(now)
    signatures = [sign(s, event_id, timestamp, payload) for s in sending.signing_secrets(endpoint, now)]
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": event_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }
    try:
        async with http.post(
            endpoint.url,
            data=payload,
            headers=headers,
            allow_redirects=False,  # a redirect would re-send the event wherever it points
            timeout=aiohttp.ClientTimeout(total=sending.config.timeout_seconds),
        ) as reply:
            # The body is never read: an attempt keeps its status and timing, nothing a peer wrote.
            return reply.status, outcome_of(reply.status)
    except aiohttp.ClientConnectorError as exc:
        refused = exc.os_error if isinstance(exc.os_error, RefusedAddress) else None
        return None, PermanentFailure(str(refused)) if refused else RetryLater(f"{type(exc).__name__}: {exc}")
    except (aiohttp.ClientError, TimeoutError) as exc:
        return None, RetryLater(clip(f"{type(exc).__name__}: {exc}") if str(exc) else type(exc).__name__)
