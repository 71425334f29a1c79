"""A Web Push service (RFC 8030) that checks VAPID (RFC 8292) and decrypts (RFC 8291)."""

from __future__ import annotations

import base64
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import http_ece
import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from multidict import CIMultiDictProxy

from .http import HttpPeer


@dataclass
class BrowserSubscription:
    """What a browser's ``PushManager.subscribe()`` yields, plus the browser's private half."""

    id: str
    info: dict[str, Any]  # {"endpoint", "keys": {"p256dh", "auth"}}: what AlertFlow stores
    user_agent_key: ec.EllipticCurvePrivateKey = field(repr=False)
    auth_secret: bytes = field(repr=False)


@dataclass(frozen=True)
class PushDelivery:
    """One push the service accepted, decrypted as the browser would."""

    subscription_id: str
    payload: Any
    headers: CIMultiDictProxy[str]
    vapid_claims: dict[str, Any]


class FakePushService(HttpPeer):
    """``POST /push/{id}`` for subscriptions made with :meth:`subscribe`.

    Answers 201 with a Location; 410 for subscriptions passed to :meth:`expire`, 404 for
    unknown ones, 401 when the VAPID header does not verify. ``deliveries`` holds each
    accepted push, decrypted.
    """

    def __init__(self) -> None:
        super().__init__()
        self.deliveries: list[PushDelivery] = []
        self._subscriptions: dict[str, BrowserSubscription] = {}
        self._expired: set[str] = set()
        self.app.router.add_post("/push/{id}", self._push)

    def subscribe(self) -> BrowserSubscription:
        sub_id = base64.urlsafe_b64encode(os.urandom(9)).decode()
        key = ec.generate_private_key(ec.SECP256R1())
        auth = os.urandom(16)
        p256dh = key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        info = {
            "endpoint": self.url(f"/push/{sub_id}"),
            "keys": {"p256dh": _b64url(p256dh), "auth": _b64url(auth)},
        }
        subscription = BrowserSubscription(sub_id, info, key, auth)
        self._subscriptions[sub_id] = subscription
        return subscription

    def expire(self, subscription: BrowserSubscription) -> None:
        self._expired.add(subscription.id)

    async def _push(self, request: web.Request) -> web.Response:
        sub_id = request.match_info["id"]
        if sub_id in self._expired:
            return web.Response(status=410, text="push subscription has unsubscribed or expired")
        subscription = self._subscriptions.get(sub_id)
        if subscription is None:
            return web.Response(status=404, text="no such subscription")
        try:
            claims = self._verify_vapid(request)
        except (ValueError, jwt.InvalidTokenError) as exc:
            return web.Response(status=401, text=f"VAPID: {exc}")
        plaintext = http_ece.decrypt(
            await request.read(),
            private_key=subscription.user_agent_key,
            auth_secret=subscription.auth_secret,
            version="aes128gcm",
        )
        self.deliveries.append(PushDelivery(sub_id, json.loads(plaintext), request.headers, claims))
        return web.Response(status=201, headers={"Location": self.url(f"/message/{len(self.deliveries)}")})

    def _verify_vapid(self, request: web.Request) -> dict[str, Any]:
        """RFC 8292: ``Authorization: vapid t=<ES256 JWT>, k=<public key>``, JWT for our origin."""
        scheme, _, params = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError("no vapid Authorization header")
        fields = dict(p.strip().split("=", 1) for p in params.split(","))
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), _unb64url(fields["k"]))
        claims: dict[str, Any] = jwt.decode(
            fields["t"], public, algorithms=["ES256"], audience=f"http://127.0.0.1:{self.port}"
        )
        if not str(claims.get("sub", "")).startswith(("mailto:", "https://")):
            raise ValueError("sub must be a mailto: or https: contact")
        if claims["exp"] > time.time() + 24 * 3600:
            raise ValueError("exp more than 24 hours ahead")
        return claims


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
