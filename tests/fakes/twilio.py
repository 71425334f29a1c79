"""Twilio's Messages API (2010-04-01) and its signed status callbacks."""

from __future__ import annotations

import base64
import secrets
from email.utils import formatdate
from typing import Any

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from .http import HttpPeer

ACCOUNT_SID = "AC" + "1" * 32
AUTH_TOKEN = "twilio-test-auth-token"
# Numbers the fake refuses as Twilio does a malformed one (error 21211).
INVALID_NUMBER_PREFIX = "+1555000"


class FakeTwilio(HttpPeer):
    """``POST /2010-04-01/Accounts/{sid}/Messages.json`` with HTTP Basic auth.

    ``messages`` holds the form of every message accepted. Numbers starting with
    ``INVALID_NUMBER_PREFIX`` are refused with 400/21211, wrong credentials with 401/20003.
    Point the SDK here with ``client.api.base_url = fake.url()``.
    """

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.messages: list[dict[str, str]] = []
        self.app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", self._create)

    async def status_callback(
        self, session: aiohttp.ClientSession, url: str, params: dict[str, str], *, sign: bool = True
    ) -> int:
        """Act as Twilio: POST a status callback to ``url``, signed with the auth token.

        Returns the HTTP status the receiver answered.
        """
        headers = {"X-Twilio-Signature": self.signature(url, params) if sign else "forged"}
        async with session.post(url, data=params, headers=headers) as response:
            return response.status

    def signature(self, url: str, params: dict[str, str]) -> str:
        """``X-Twilio-Signature`` for a form POSTed to ``url``."""
        return str(RequestValidator(self.auth_token).compute_signature(url, params))

    async def _create(self, request: web.Request) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("Authorization") != expected or request.match_info["sid"] != self.account_sid:
            return _error(401, 20003, "Authenticate")
        form = {k: str(v) for k, v in (await request.post()).items()}
        to = form.get("To", "")
        if not to or to.startswith(INVALID_NUMBER_PREFIX):
            return _error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not form.get("Body"):
            return _error(400, 21602, "Message body is required.")
        self.messages.append(form)
        return web.json_response(self._message_json(form), status=201)

    def _message_json(self, form: dict[str, str]) -> dict[str, Any]:
        sid = "SM" + secrets.token_hex(16)
        now = formatdate(usegmt=True)
        return {
            "sid": sid,
            "account_sid": self.account_sid,
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "to": form["To"],
            "from": form.get("From"),
            "body": form["Body"],
            "status": "queued",
            "num_segments": "1",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "error_code": None,
            "error_message": None,
            "price": None,
            "price_unit": "USD",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            "subresource_uris": {},
        }


def _error(status: int, code: int, message: str) -> web.Response:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return web.json_response(body, status=status)
