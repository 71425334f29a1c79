"""Verifying AlertFlow's status webhooks, signed by the Standard Webhooks specification
(https://www.standardwebhooks.com): ``webhook-signature`` holds one or more ``v1,<base64
HMAC-SHA256(key, "{id}.{timestamp}.{body}")>`` (several while a secret is being rotated),
where key is the base64-decoded part of the ``whsec_`` secret."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from .errors import WebhookVerificationError

# How far a webhook's timestamp may be from now: replays older than this are refused.
TOLERANCE_SECONDS = 5 * 60
PREFIX = "whsec_"


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,...`` signature of one message (what the server sends)."""
    key = base64.b64decode(secret.removeprefix(PREFIX))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verify_webhook(secret: str, body: bytes, headers: Mapping[str, str], now: float | None = None) -> dict[str, Any]:
    """The event (``{"type","timestamp","data"}``) if ``body`` was signed with ``secret``
    within the tolerance; :class:`WebhookVerificationError` otherwise. Pass the raw body,
    exactly as received: a re-serialised one does not verify."""
    lower = {k.lower(): v for k, v in headers.items()}
    try:
        msg_id, stamp, signatures = lower["webhook-id"], lower["webhook-timestamp"], lower["webhook-signature"]
        timestamp = int(stamp)
    except (KeyError, ValueError) as exc:
        raise WebhookVerificationError("missing or malformed webhook-id/-timestamp/-signature headers") from exc
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE_SECONDS:
        raise WebhookVerificationError("the webhook's timestamp is too far from now (a replay?)")
    expected = sign(secret, msg_id, timestamp, body)
    if not any(hmac.compare_digest(expected, given) for given in signatures.split()):
        raise WebhookVerificationError("no signature matches the secret")
    event: dict[str, Any] = json.loads(body)
    return event
