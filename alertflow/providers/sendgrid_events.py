"""SendGrid's Event Webhook: its ECDSA signature verified, its events read as reports.

As SendGrid documents it ("Event Webhook security features"): the signature, base64 DER in
``X-Twilio-Email-Event-Webhook-Signature``, is ECDSA on P-256 with SHA-256 over the value of
``X-Twilio-Email-Event-Webhook-Timestamp`` followed by the raw body; the verification key
is the base64 DER public key SendGrid's settings page shows.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..delivery.feedback import Kind, Report

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
# Bounce types: "bounce" is the receiving server's permanent refusal, "blocked" a temporary
# one (SendGrid's "Bounced vs. Blocked").
SOFT_BOUNCE_TYPES = frozenset({"blocked"})
KINDS: dict[str, Kind] = {"dropped": "dropped", "spamreport": "complaint", "delivered": "delivered"}


class InvalidEvents(Exception):
    """The post's signature does not verify: nothing of it is applied."""


def public_key(text: str) -> ec.EllipticCurvePublicKey:
    """SendGrid's verification key from its base64 DER form; ValueError saying what is wrong."""
    try:
        key = serialization.load_der_public_key(base64.b64decode(text.strip(), validate=True))
    except (binascii.Error, ValueError, UnsupportedAlgorithm):
        raise ValueError("expected the base64 DER public key SendGrid shows (MFkwEwYHKoZIzj0CAQYI...)") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("expected an ECDSA P-256 public key")
    return key


def verify(key_text: str, timestamp: str, signature: str, body: bytes) -> None:
    try:
        raw = base64.b64decode(signature, validate=True)
        public_key(key_text).verify(raw, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature):
        raise InvalidEvents("the signature does not verify") from None


def reports(events: Any) -> list[Report]:
    """The reports a verified post makes; events that change nothing (opens, clicks) none."""
    if not isinstance(events, list):
        return []
    out = []
    for event in events:
        if not isinstance(event, dict):
            continue
        kind = _kind(event)
        if kind is None:
            continue
        email = event.get("email")
        detail = event.get("reason") or event.get("response") or event.get("status")
        out.append(
            Report(
                kind,
                str(event.get("sg_event_id") or _digest(event)),
                _message_ids(event),
                (email,) if isinstance(email, str) else (),
                str(detail) if detail else None,
            )
        )
    return out


def _kind(event: dict[str, Any]) -> Kind | None:
    name = event.get("event")
    if name == "bounce":
        return "soft_bounce" if event.get("type") in SOFT_BOUNCE_TYPES else "bounce"
    return KINDS.get(str(name))


def _message_ids(event: dict[str, Any]) -> tuple[str, ...]:
    """The ids the message may be recorded under: SendGrid's message id is the id its SMTP
    reply gave ("queued as X") with ".filter..." appended; ``smtp-id`` is its Message-ID."""
    ids = []
    sg = event.get("sg_message_id")
    if isinstance(sg, str) and sg:
        ids += [sg, sg.split(".", 1)[0]]
    smtp_id = event.get("smtp-id")
    if isinstance(smtp_id, str) and smtp_id:
        ids.append(smtp_id)
    return tuple(dict.fromkeys(ids))


def _digest(event: dict[str, Any]) -> str:
    """An id for an event without ``sg_event_id``: the same event twice is the same report."""
    return hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()
