"""What the API answers, as typed models. Unknown fields are kept (``model_extra``), so a
newer server never breaks an older client."""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

Channel = Literal["email", "sms", "push", "inapp", "webhook"]
Priority = Literal["high", "medium", "low"]
Status = Literal["scheduled", "queued", "sending", "sent", "delivered", "failed", "suppressed", "dead", "cancelled"]
# A recipient: {"user_id": ...} or direct addresses {"email", "phone", "push_token"}.
Recipient = dict[str, Any]


class Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class PublishedNotification(Model):
    id: str
    recipient: Recipient
    status: str


class PublishAnswer(Model):
    notifications: list[PublishedNotification]


class BulkAnswer(Model):
    batch_id: str
    recipients: int


class Batch(Model):
    batch_id: str
    recipients: int
    status: str
    counts: dict[str, int] = {}


class Attempt(Model):
    at: str
    outcome: str
    error: str | None = None


class Delivery(Model):
    id: str
    channel: str
    status: str
    provider: str | None = None
    attempts: list[Attempt] = []
    sent_at: str | None = None
    delivered_at: str | None = None
    reason: str | None = None


class Notification(Model):
    id: str
    status: str
    category: str
    priority: str
    created_at: str
    send_at: str | None = None
    recipient: Recipient = {}
    deliveries: list[Delivery] = []


class InboxToken(Model):
    token: str
    expires_at: str


class InboxItem(Model):
    id: str
    title: str | None = None
    body: str | None = None
    action_url: str | None = None
    data: dict[str, Any] | None = None
    category: str | None = None
    created_at: str
    read_at: str | None = None


T = TypeVar("T", bound=Model)


class Page(Model, Generic[T]):
    """One page of a list; ``next_cursor`` fetches the next, ``None`` on the last."""

    items: list[T]
    next_cursor: str | None = None
