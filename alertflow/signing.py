"""Short-lived signed tokens: a JSON payload and an expiry under an HMAC-SHA256 signature.

A token is ``base64url(JSON payload with "exp").base64url(HMAC-SHA256(key, first part))``.
The key is derived from ``server.secret_key`` and a purpose string (``inbox``, ``unsubscribe``),
so a token made for one purpose never verifies for another even though both come from the
same secret. Tokens are bearer credentials: whoever holds one may use it until it expires,
which is why they are short-lived and carry only identifiers, never secrets.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from typing import Any

EXPIRY = "exp"


class InvalidToken(ValueError):
    """The token is malformed, forged, or was made for another purpose or secret."""


class ExpiredToken(InvalidToken):
    """The token was genuine but its time is up."""


def _key(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode(), b"alertflow-signing:" + purpose.encode(), hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(secret: str, purpose: str, payload: dict[str, Any], ttl_seconds: float, now: float | None = None) -> str:
    """A token carrying ``payload`` that :func:`verify` accepts for ``ttl_seconds`` from ``now``."""
    if EXPIRY in payload:
        raise ValueError(f"{EXPIRY!r} is set by sign() itself")
    issued = time.time() if now is None else now
    body = _b64(json.dumps({**payload, EXPIRY: issued + ttl_seconds}, separators=(",", ":")).encode())
    mac = hmac.new(_key(secret, purpose), body.encode("ascii"), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify(secret: str, purpose: str, token: str, now: float | None = None) -> dict[str, Any]:
    """The payload (with ``exp``) of a genuine, unexpired token for ``purpose``."""
    body, dot, mac = token.partition(".")
    if not dot or not body or not mac:
        raise InvalidToken("not a token")
    expected = hmac.new(_key(secret, purpose), body.encode("ascii", "replace"), hashlib.sha256).digest()
    try:
        genuine = hmac.compare_digest(_unb64(mac), expected)
    except (binascii.Error, ValueError):
        genuine = False
    if not genuine:
        raise InvalidToken("the signature does not match")
    # Only a genuine token gets parsed: the JSON below was written by sign().
    payload: dict[str, Any] = json.loads(_unb64(body))
    if payload[EXPIRY] <= (time.time() if now is None else now):
        raise ExpiredToken("the token has expired")
    return payload
