"""A tenant's webhook endpoint that checks AlertFlow's signature like a receiver should."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import CIMultiDictProxy

from .http import HttpPeer

SECRET = "whsec-alertflow-test"
PATH = "/hooks/alertflow"


@dataclass(frozen=True)
class WebhookDelivery:
    """One request whose signature verified."""

    body: bytes
    headers: CIMultiDictProxy[str]

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver(HttpPeer):
    """Receives at ``url(PATH)``; answers 204, or 401 when the signature does not verify.

    The check is written here independently of the provider, from the documented scheme:
    ``sha256=hex(HMAC-SHA256(secret, f"{X-AlertFlow-Timestamp}." + raw body))``.
    """

    def __init__(self, secret: str = SECRET) -> None:
        super().__init__()
        self.secret = secret
        self.deliveries: list[WebhookDelivery] = []
        self.rejected = 0
        self.app.router.add_post(PATH, self._receive)

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.read()
        timestamp = request.headers.get("X-AlertFlow-Timestamp", "")
        mac = hmac.new(self.secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
        given = request.headers.get("X-AlertFlow-Signature", "")
        if not hmac.compare_digest(given, "sha256=" + mac.hexdigest()):
            self.rejected += 1
            return web.Response(status=401, text="bad signature")
        self.deliveries.append(WebhookDelivery(body, request.headers))
        return web.Response(status=204)
