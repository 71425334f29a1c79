"""The ``webpush`` provider: one encrypted push per browser subscription of the recipient.

Outcomes per subscription: 201 is sent; 404 and 410 mean the browser dropped the
subscription, so it is pruned; 429, 5xx and transport errors are retried. A subscription
pywebpush cannot even encrypt for (no endpoint, bad keys) is pruned as well: it can never
work. See :func:`alertflow.outcomes.combine_device_outcomes` for the delivery's outcome.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from typing import cast

import aiohttp
from py_vapid import Vapid
from pydantic import field_validator
from pywebpush import WebPushException, webpush_async

from alertflow.message import Device, Message
from alertflow.outcomes import (
    DeliveryError,
    PermanentFailure,
    RetryLater,
    Sent,
    combine_device_outcomes,
)
from alertflow.providers import Provider, ProviderContext, ProviderSettings
from alertflow_provider_kit import OwnedSession, outcome_for_status

# A push service keeps an undeliverable message this long for an offline browser; the
# library's default TTL of 0 would drop it unless the browser happens to be online.
TTL_SECONDS = 24 * 3600
REQUEST_TIMEOUT_SECONDS = 10.0
# RFC 8030 §5.3 Urgency, from the notification's priority.
URGENCY = {"high": "high", "medium": "normal", "low": "low"}
# RFC 8030 §5.4: a Topic is at most 32 characters of the URL-safe base64 alphabet, so a
# replace_key travels as its hash: 24 bytes of SHA-256 are exactly 32 such characters.
TOPIC_BYTES = 24
GONE = frozenset({404, 410})


class WebPushSettings(ProviderSettings):
    """Settings of the ``webpush`` provider (CONTRACT §3)."""

    vapid_private_key: str
    vapid_subject: str

    @field_validator("vapid_private_key")
    @classmethod
    def _p256_key(cls, value: str) -> str:
        try:
            Vapid.from_string(private_key=value)
        except Exception as exc:  # py_vapid raises assorted errors for assorted garbage
            raise ValueError(
                "expected a base64url raw P-256 private key, as `alertflow webpush keys` prints"
            ) from exc
        return value

    @field_validator("vapid_subject")
    @classmethod
    def _contact(cls, value: str) -> str:
        # RFC 8292 §2.1: push services use the subject to contact the sender.
        if not value.startswith(("mailto:", "https://")):
            raise ValueError("expected a mailto: or https: URL")
        return value


class WebPushProvider(Provider):
    """Web Push to browser subscriptions, signed with the tenant's VAPID key."""

    type_name = "webpush"
    Settings = WebPushSettings
    channels = frozenset({"push"})
    device_kinds = frozenset({"webpush"})
    secret_fields = frozenset({"vapid_private_key"})
    # Subscription endpoints come from the tenant's users: always held to the tenant's guard.
    recipient_endpoints = True
    description = "Browser notifications (Web Push with VAPID)."

    settings: WebPushSettings

    def __init__(self, settings: WebPushSettings, context: ProviderContext) -> None:
        super().__init__(settings, context)
        self._vapid = Vapid.from_string(private_key=settings.vapid_private_key)  # parsed once
        self._session = OwnedSession(context)

    async def send(self, message: Message) -> Sent:
        devices = [d for d in message.recipient.devices if d.kind == "webpush"]
        if not devices:
            raise PermanentFailure("no browser subscription")
        payload = json.dumps(_payload(message), separators=(",", ":"), ensure_ascii=False)
        headers = {"Urgency": URGENCY.get(message.priority, "normal")}
        if message.replace_key is not None:  # the push service keeps only the newest of a topic
            headers["Topic"] = topic(message.replace_key)
        outcomes = await asyncio.gather(*(self._push(d, payload, headers) for d in devices))
        return combine_device_outcomes(outcomes)

    async def close(self) -> None:
        await self._session.close()

    async def _push(
        self, device: Device, payload: str, headers: dict[str, str]
    ) -> Sent | DeliveryError:
        try:
            response = await webpush_async(
                dict(device.subscription or {}),
                payload,
                self._vapid,
                # A fresh dict each time: pywebpush writes this push service's "aud" into it.
                {"sub": self.settings.vapid_subject},
                timeout=REQUEST_TIMEOUT_SECONDS,
                ttl=TTL_SECONDS,
                headers=dict(headers),
                aiohttp_session=self._session.get(),
            )
        except WebPushException as exc:
            return _failure(device, exc)
        except (aiohttp.ClientError, TimeoutError) as exc:
            return RetryLater(f"webpush: {type(exc).__name__}: {exc}")
        # webpush_async returns a str only for curl=True.
        location = cast(aiohttp.ClientResponse, response).headers.get("Location")
        return Sent(provider_message_id=location)


def topic(replace_key: str) -> str:
    """The Web Push ``Topic`` header for a replace_key."""
    return base64.urlsafe_b64encode(
        hashlib.sha256(replace_key.encode()).digest()[:TOPIC_BYTES]
    ).decode()


def _failure(device: Device, exc: WebPushException) -> DeliveryError:
    status = exc.status_code
    if status is None:
        return PermanentFailure(f"webpush: unusable subscription: {exc.message}", pruned=(device,))
    if status in GONE:
        return PermanentFailure(f"webpush {status}: subscription expired", pruned=(device,))
    return outcome_for_status(status, f"webpush {status}: {exc.message}", exc.retry_after)


def _payload(message: Message) -> dict[str, object]:
    """What the service worker's ``push`` event reads with ``event.data.json()``."""
    content = message.content
    return {
        "title": content.get("title") or "",
        "body": content.get("body") or "",
        "data": content.get("data") or {},
        "notification_id": message.notification_id,
        "category": message.category,
    }
