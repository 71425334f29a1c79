"""Amazon SNS messages verified as AWS documents them, and the SES notifications they carry.

"Verifying the signatures of Amazon SNS messages": the signed string is ``Key\\nValue\\n`` for
a fixed list of keys per message type, in byte order, ``Subject`` only when present; the
signature is RSA PKCS#1 v1.5 over it with SHA1 (SignatureVersion 1) or SHA256 (2), by the
key in the X.509 certificate at ``SigningCertURL``. Anyone can serve a certificate, so the
URL must be https on an SNS host (``sns.<region>.amazonaws.com``); the one exception is a
test double's certificate URL the operator lists in ``[receipts] sns_certificate_urls``,
whose origin may then also stand in for SNS's in a ``SubscribeURL``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..cache import Lru
from ..delivery.feedback import Kind, Report
from .netguard import OutboundGuard

SNS_HOST = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
SIGNED_KEYS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
# SNS's signing certificates are ~2 KB of PEM; a larger answer is not one.
MAX_CERTIFICATE_BYTES = 64 * 1024
# Certificates kept: SNS signs with one per region and rotates them rarely.
CERTIFICATE_CACHE = 64
# How long fetching a certificate or confirming a subscription may take.
FETCH_TIMEOUT_SECONDS = 10.0


class InvalidMessage(Exception):
    """The message does not verify (or cannot be checked): nothing of it is applied."""


@dataclass(frozen=True)
class SnsMessage:
    type: str
    message_id: str
    timestamp: float
    message: str
    topic_arn: str
    subscribe_url: str | None


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidMessage(f"{key} is missing")
    return value


def signed_string(body: dict[str, Any]) -> bytes:
    """The bytes SNS signed for this message (its type's keys, ``Key\\nValue\\n`` each)."""
    keys = SIGNED_KEYS.get(str(body.get("Type")))
    if keys is None:
        raise InvalidMessage(f"unknown message Type {body.get('Type')!r}")
    parts = []
    for key in keys:
        if key == "Subject":  # signed only when the message has one; it may be empty
            if isinstance(body.get(key), str):
                parts.append(f"{key}\n{body[key]}\n")
            continue
        parts.append(f"{key}\n{_text(body, key)}\n")
    return "".join(parts).encode()


def parse_time(value: str) -> float:
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidMessage(f"Timestamp {value!r} is not an ISO 8601 time") from None
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


class SnsVerifier:
    """Verifies SNS messages and confirms subscriptions; certificates are fetched once each."""

    def __init__(self, guard: OutboundGuard, test_certificate_urls: Sequence[str] = ()) -> None:
        self.guard = guard
        self.test_certificate_urls = frozenset(test_certificate_urls)
        self._test_origins = frozenset(_origin(u) for u in test_certificate_urls)
        # URL -> (the certificate's key, when the certificate expires)
        self._keys: Lru[str, tuple[rsa.RSAPublicKey, datetime]] = Lru(CERTIFICATE_CACHE)
        self._fetching: dict[str, asyncio.Future[tuple[rsa.RSAPublicKey, datetime]]] = {}

    def certificate_refusal(self, url: str) -> str | None:
        """Why a SigningCertURL is not to be trusted, or None."""
        if url in self.test_certificate_urls:
            return None
        parts = urlsplit(url)
        if parts.scheme != "https" or not SNS_HOST.match(parts.hostname or "") or parts.port not in (None, 443):
            return "SigningCertURL is not an https URL on an SNS host (sns.<region>.amazonaws.com)"
        if not parts.path.endswith(".pem"):
            return "SigningCertURL is not a .pem certificate"
        return None

    def subscribe_refusal(self, url: str) -> str | None:
        """Why a SubscribeURL is not to be called, or None."""
        parts = urlsplit(url)
        if _origin(url) in self._test_origins:
            return None
        if parts.scheme != "https" or not SNS_HOST.match(parts.hostname or "") or parts.port not in (None, 443):
            return "SubscribeURL is not an https URL on an SNS host (sns.<region>.amazonaws.com)"
        return None

    async def verify(self, body: dict[str, Any]) -> SnsMessage:
        """The message, when its signature verifies with a trusted certificate."""
        signed = signed_string(body)
        algorithm = HASHES.get(str(body.get("SignatureVersion")))
        if algorithm is None:
            raise InvalidMessage(f"unknown SignatureVersion {body.get('SignatureVersion')!r}")
        url = _text(body, "SigningCertURL")
        refusal = self.certificate_refusal(url)
        if refusal is not None:
            raise InvalidMessage(refusal)
        try:
            signature = base64.b64decode(_text(body, "Signature"), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidMessage("Signature is not base64") from None
        key = await self._key(url)
        try:
            key.verify(signature, signed, padding.PKCS1v15(), algorithm())
        except InvalidSignature:
            raise InvalidMessage("the signature does not verify") from None
        return SnsMessage(
            type=body["Type"],
            message_id=body["MessageId"],
            timestamp=parse_time(body["Timestamp"]),
            message=body["Message"],
            topic_arn=body["TopicArn"],
            subscribe_url=body.get("SubscribeURL"),
        )

    async def confirm(self, message: SnsMessage) -> None:
        """Confirm a subscription by visiting its SubscribeURL (an SNS host only)."""
        url = message.subscribe_url or ""
        refusal = self.subscribe_refusal(url)
        if refusal is not None:
            raise InvalidMessage(refusal)
        async with (
            self._session(_origin(url) in self._test_origins) as http,
            http.get(url, timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT_SECONDS)) as resp,
        ):
            if resp.status != 200:
                raise OSError(f"SNS answered the confirmation with HTTP {resp.status}")

    async def _key(self, url: str) -> rsa.RSAPublicKey:
        """The certificate's key, fetched once however many messages wait for it."""
        kept = self._keys.get(url)
        if kept is not None and kept[1] >= datetime.now(UTC):
            return kept[0]
        pending = self._fetching.get(url)
        if pending is None:
            pending = self._fetching[url] = asyncio.ensure_future(self._fetch(url))
            pending.add_done_callback(lambda _: self._fetching.pop(url, None))
        fetched = await asyncio.shield(pending)
        self._keys.put(url, fetched)
        return fetched[0]

    async def _fetch(self, url: str) -> tuple[rsa.RSAPublicKey, datetime]:
        try:
            async with (
                self._session(url in self.test_certificate_urls) as http,
                http.get(url, timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT_SECONDS)) as resp,
            ):
                if resp.status != 200:
                    raise InvalidMessage(f"the signing certificate could not be fetched (HTTP {resp.status})")
                pem = await resp.content.read(MAX_CERTIFICATE_BYTES + 1)
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise InvalidMessage(f"the signing certificate could not be fetched: {exc}") from None
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError:
            raise InvalidMessage("SigningCertURL does not hold a PEM certificate") from None
        now = datetime.now(UTC)
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise InvalidMessage("the signing certificate is not valid now")
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise InvalidMessage("the signing certificate's key is not RSA")
        return key, certificate.not_valid_after_utc

    def _session(self, operator_listed: bool) -> aiohttp.ClientSession:
        # A test double the operator listed may live anywhere, like the operator's providers.
        return (self.guard.unrestricted() if operator_listed else self.guard).session(limit=4)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def ses_reports(message: SnsMessage) -> list[Report]:
    """The reports an SES notification makes (none for a type that changes nothing). Both
    SES's notifications (``notificationType``) and event publishing (``eventType``) count."""
    try:
        note = json.loads(message.message)
    except ValueError:
        return []
    if not isinstance(note, dict):
        return []
    kind_name = note.get("notificationType") or note.get("eventType")
    mail = note["mail"] if isinstance(note.get("mail"), dict) else {}
    ids = [mail.get("messageId"), (mail.get("commonHeaders") or {}).get("messageId")]
    message_ids = tuple(i for i in ids if isinstance(i, str) and i)
    kind: Kind
    if kind_name == "Bounce":
        bounce = note.get("bounce") or {}
        kind = "bounce" if bounce.get("bounceType") == "Permanent" else "soft_bounce"
        recipients = bounce.get("bouncedRecipients") or []
        detail = _first_diagnostic(recipients) or f"{bounce.get('bounceType')}/{bounce.get('bounceSubType')}"
    elif kind_name == "Complaint":
        complaint = note.get("complaint") or {}
        kind, recipients = "complaint", complaint.get("complainedRecipients") or []
        detail = complaint.get("complaintFeedbackType") or "complaint"
    elif kind_name == "Delivery":
        kind, recipients, detail = "delivered", [], None
    else:
        return []
    addresses = tuple(
        r["emailAddress"] for r in recipients if isinstance(r, dict) and isinstance(r.get("emailAddress"), str)
    )
    return [Report(kind, message.message_id, message_ids, addresses, detail)]


def _first_diagnostic(recipients: list[Any]) -> str | None:
    for r in recipients:
        if isinstance(r, dict) and (r.get("diagnosticCode") or r.get("status")):
            return str(r.get("diagnosticCode") or r.get("status"))
    return None
