"""alertflow-client: the Python client of AlertFlow's REST API."""

from .client import AlertFlow, AsyncAlertFlow
from .errors import (
    AlertFlowError,
    BadRequest,
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    Unauthorized,
    ValidationFailed,
    WebhookVerificationError,
)
from .models import (
    Attempt,
    Batch,
    BulkAnswer,
    Delivery,
    InboxItem,
    InboxToken,
    Notification,
    Page,
    PublishAnswer,
    PublishedNotification,
)
from .webhooks import verify_webhook

__all__ = [
    "AlertFlow",
    "AlertFlowError",
    "AsyncAlertFlow",
    "Attempt",
    "BadRequest",
    "Batch",
    "BulkAnswer",
    "Conflict",
    "Delivery",
    "FieldError",
    "Forbidden",
    "InboxItem",
    "InboxToken",
    "NotFound",
    "Notification",
    "Page",
    "PayloadTooLarge",
    "PublishAnswer",
    "PublishedNotification",
    "RateLimited",
    "ServerError",
    "Unauthorized",
    "ValidationFailed",
    "WebhookVerificationError",
    "verify_webhook",
]
