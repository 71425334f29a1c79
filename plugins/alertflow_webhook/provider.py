"""The ``webhook`` provider (see the package docstring for the signature scheme).

Outcomes: 2xx is sent; 408, 429 (honouring Retry-After), 5xx, 401, timeouts and transport
errors are retried; any other reply, redirects included, is permanent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import asdict
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from alertflow.message import Message
from alertflow.outcomes import Sent
from alertflow.providers import Provider, ProviderContext, ProviderSettings
from alertflow_provider_kit import OwnedSession, TimeoutSeconds, outcome_for_status, post

USER_AGENT = "AlertFlow-Webhook/1"


class WebhookSettings(ProviderSettings):
    """Settings of the ``webhook`` provider (CONTRACT §3)."""

    url: str
    secret: str = Field(min_length=1, description="HMAC-SHA256 key; 32+ random bytes recommended")
    timeout_seconds: TimeoutSeconds = 10.0

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http:// or https:// URL")
        return value


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-AlertFlow-Signature`` value for ``body`` signed at ``timestamp``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class WebhookProvider(Provider):
    """POSTs each message as JSON, signed with the tenant's secret."""

    type_name = "webhook"
    Settings = WebhookSettings
    channels = frozenset({"webhook"})
    secret_fields = frozenset({"secret"})
    url_fields = frozenset({"url"})
    description = "Signed JSON POST (HMAC-SHA256) to your own URL."

    settings: WebhookSettings

    def __init__(self, settings: WebhookSettings, context: ProviderContext) -> None:
        super().__init__(settings, context)
        self._session = OwnedSession(context)

    async def send(self, message: Message) -> Sent:
        body = json.dumps(_payload(message), separators=(",", ":"), ensure_ascii=False).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-AlertFlow-Timestamp": timestamp,
            "X-AlertFlow-Signature": signature(self.settings.secret, timestamp, body),
            "X-AlertFlow-Delivery": message.delivery_id,
        }
        reply = await post(
            self._session.get(),
            self.settings.url,
            what="webhook",
            timeout=self.settings.timeout_seconds,
            data=body,
            headers=headers,
        )
        if not reply.ok:
            detail = f"webhook {reply.status}: {reply.text}"  # clipped by the outcome
            raise outcome_for_status(reply.status, detail, reply.retry_after)
        return Sent()

    async def close(self) -> None:
        await self._session.close()


def _payload(message: Message) -> Any:
    """The tenant's ``body`` as it is, or an envelope describing the notification."""
    if "body" in message.content:
        return message.content["body"]
    # Push devices are left out: a webhook receiver has no use for other channels' tokens.
    recipient = {
        k: v for k, v in asdict(message.recipient).items() if k != "devices" and v is not None
    }
    return {
        "notification_id": message.notification_id,
        "delivery_id": message.delivery_id,
        "tenant_id": message.tenant_id,
        "category": message.category,
        "priority": message.priority,
        "recipient": recipient,
        "content": message.content,
    }
