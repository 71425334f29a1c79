"""What a provider is handed: one rendered message for one recipient on one channel."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CHANNELS: tuple[str, ...] = ("email", "sms", "push", "inapp", "webhook")
# The internal channel status webhooks travel on (delivery/status_events.py): queued and
# sent like the channels above, but never one a tenant publishes to or sets up.
STATUS_CHANNEL = "status"


@dataclass(frozen=True)
class Device:
    """One push target of a recipient: an FCM token or a browser (Web Push) subscription."""

    kind: str  # "fcm" or "webpush"
    token: str | None = None  # FCM registration token
    subscription: dict[str, Any] | None = None  # Web Push subscription (endpoint + keys)


@dataclass(frozen=True)
class Recipient:
    """Where a message goes; ``user_id`` is set when the tenant addressed a known user."""

    user_id: str | None = None
    email: str | None = None
    phone: str | None = None
    name: str | None = None
    locale: str | None = None
    timezone: str | None = None
    devices: tuple[Device, ...] = ()


@dataclass(frozen=True)
class Message:
    """One delivery, rendered: ``content`` holds the channel's fields.

    email: subject, text, html · sms: body · push: title, body, data ·
    inapp: title, body, action_url, data · webhook: body (a JSON-able value).
    """

    tenant_id: str
    notification_id: str
    delivery_id: str
    channel: str
    recipient: Recipient
    content: dict[str, Any]
    category: str = "default"
    priority: str = "medium"
    attempt: int = 1
    headers: dict[str, str] = field(default_factory=dict)
    # A later message with the same key replaces this one: the in-app item in place, and on
    # devices the push collapses (FCM collapse_key, Web Push Topic). None: nothing replaces it.
    replace_key: str | None = None
