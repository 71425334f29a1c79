"""A stand-in for Amazon SNS: it signs messages as SNS does, serves its signing certificate
and takes subscription confirmations; and SES notifications as SNS carries them.

The signature is written here from AWS's documentation ("Verifying the signatures of Amazon
SNS messages"), independently of alertflow/providers/amazon_sns.py: ``Key\\nValue\\n`` for
the type's keys in order, ``Subject`` only when present, RSA PKCS#1 v1.5 with SHA1
(SignatureVersion 1) or SHA256 (2), base64.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import uuid
from typing import Any

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from .http import HttpPeer

CERT_PATH = "/SimpleNotificationService-test.pem"
CONFIRM_PATH = "/confirm"
TOPIC_ARN = "arn:aws:sns:eu-west-1:123456789012:ses-feedback"
NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")


def make_certificate(expired: bool = False) -> tuple[rsa.RSAPrivateKey, bytes]:
    """A fresh RSA key and a self-signed certificate for it (PEM), valid for a day (or one
    that expired an hour ago)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.eu-west-1.amazonaws.com")])
    now = dt.datetime.now(dt.UTC) - dt.timedelta(days=1, hours=2) * expired
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


def sns_time(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class FakeSns(HttpPeer):
    """Serves its certificate at ``cert_url`` and counts visits to its SubscribeURLs."""

    def __init__(self, host: str = "127.0.0.1", expired_certificate: bool = False) -> None:
        super().__init__(host)
        self.key, self.cert_pem = make_certificate(expired_certificate)
        self.confirmed: list[str] = []
        self.app.router.add_get(CERT_PATH, self._certificate)
        self.app.router.add_get(CONFIRM_PATH, self._confirm)

    @property
    def cert_url(self) -> str:
        return self.url(CERT_PATH)

    def certificate_fetches(self) -> int:
        return sum(1 for r in self.requests if r.path == CERT_PATH)

    async def _certificate(self, request: web.Request) -> web.Response:
        return web.Response(body=self.cert_pem, content_type="application/x-pem-file")

    async def _confirm(self, request: web.Request) -> web.Response:
        self.confirmed.append(request.query["Token"])
        return web.Response(text="<ConfirmSubscriptionResponse/>", content_type="text/xml")

    def sign(self, message: dict[str, Any], version: str = "1", cert_url: str | None = None) -> dict[str, Any]:
        """``message`` with SignatureVersion, SigningCertURL and its Signature."""
        keys = NOTIFICATION_KEYS if message["Type"] == "Notification" else CONFIRMATION_KEYS
        signed = "".join(f"{k}\n{message[k]}\n" for k in keys if k in message).encode()
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(signed, padding.PKCS1v15(), algorithm)
        return {
            **message,
            "SignatureVersion": version,
            "Signature": base64.b64encode(signature).decode(),
            "SigningCertURL": cert_url or self.cert_url,
        }

    def notification(
        self, ses: dict[str, Any], at: float | None = None, version: str = "1", subject: str | None = None
    ) -> dict[str, Any]:
        """A signed Notification carrying an SES notification, sent ``at`` (default now)."""
        message = {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": TOPIC_ARN,
            "Message": json.dumps(ses),
            "Timestamp": sns_time(time.time() if at is None else at),
        }
        if subject is not None:
            message["Subject"] = subject
        return self.sign(message, version)

    def subscription_confirmation(self, token: str = "tok-1") -> dict[str, Any]:
        return self.sign(
            {
                "Type": "SubscriptionConfirmation",
                "MessageId": str(uuid.uuid4()),
                "Token": token,
                "TopicArn": TOPIC_ARN,
                "Message": f"You have chosen to subscribe to the topic {TOPIC_ARN}.",
                "SubscribeURL": self.url(f"{CONFIRM_PATH}?Action=ConfirmSubscription&Token={token}"),
                "Timestamp": sns_time(time.time()),
            }
        )


def ses_bounce(message_id: str, address: str, permanent: bool = True) -> dict[str, Any]:
    """SES's bounce notification for one recipient of the message SES accepted as ``message_id``."""
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": "Permanent" if permanent else "Transient",
            "bounceSubType": "General" if permanent else "MailboxFull",
            "bouncedRecipients": [
                {
                    "emailAddress": address,
                    "action": "failed",
                    "status": "5.1.1" if permanent else "4.2.2",
                    "diagnosticCode": "smtp; 550 5.1.1 user unknown" if permanent else "smtp; 452 4.2.2 mailbox full",
                }
            ],
            "timestamp": sns_time(time.time()),
            "feedbackId": str(uuid.uuid4()),
        },
        "mail": _mail(message_id, address),
    }


def ses_complaint(message_id: str, address: str) -> dict[str, Any]:
    return {
        "notificationType": "Complaint",
        "complaint": {
            "complainedRecipients": [{"emailAddress": address}],
            "complaintFeedbackType": "abuse",
            "timestamp": sns_time(time.time()),
            "feedbackId": str(uuid.uuid4()),
        },
        "mail": _mail(message_id, address),
    }


def ses_delivery(message_id: str, address: str) -> dict[str, Any]:
    return {
        "notificationType": "Delivery",
        "delivery": {"recipients": [address], "smtpResponse": "250 ok", "timestamp": sns_time(time.time())},
        "mail": _mail(message_id, address),
    }


def _mail(message_id: str, address: str) -> dict[str, Any]:
    return {
        "timestamp": sns_time(time.time()),
        "messageId": message_id,
        "source": "alerts@example.com",
        "destination": [address],
    }
