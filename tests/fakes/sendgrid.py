"""SendGrid's side of the Event Webhook: a P-256 key pair, posts signed as SendGrid signs them
(ECDSA SHA-256 over the timestamp header's value followed by the raw body, base64 DER), and
events shaped as SendGrid documents them."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"


class SendgridSigner:
    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())

    @property
    def public_key(self) -> str:
        """The verification key as SendGrid's settings page shows it: base64 DER."""
        der = self.key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def post(self, events: list[dict[str, Any]], at: float | None = None) -> tuple[bytes, dict[str, str]]:
        """The body and headers of a signed post of ``events``, sent ``at`` (default now)."""
        body = json.dumps(events).encode()
        timestamp = str(int(time.time() if at is None else at))
        signature = self.key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: base64.b64encode(signature).decode(),
            TIMESTAMP_HEADER: timestamp,
        }
        return body, headers


def event(name: str, queue_id: str, email: str, **fields: Any) -> dict[str, Any]:
    """One event about the message SendGrid's SMTP reply named ``queue_id``."""
    return {
        "email": email,
        "timestamp": int(time.time()),
        "event": name,
        "sg_event_id": base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="),
        "sg_message_id": f"{queue_id}.filterdrecv-5645d9c87f-2pqhb-1-5DB0F8D5-1.0",
        "smtp-id": f"<{uuid.uuid4().hex}@ismtpd0001p1lon1.sendgrid.net>",
        **fields,
    }
