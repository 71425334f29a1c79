"""MSG91's Flow API (``POST /api/v5/flow/``)."""

from __future__ import annotations

import json
import re
import secrets

from aiohttp import web

from .http import HttpPeer

AUTH_KEY = "msg91-test-authkey"
FLOW_ID = "64f1c0ffee0123456789abcd"
# MSG91 takes international numbers as 10-15 digits, no "+".
MOBILES = re.compile(r"^\d{10,15}$")


class FakeMsg91(HttpPeer):
    """Accepts flow requests for the flows in ``flows`` with the ``auth_key`` header.

    ``requests_sent`` holds each accepted JSON body. Like MSG91, request-level mistakes
    (unknown flow, bad number) are answered HTTP 200 with ``{"type": "error"}``; a wrong
    authkey gets HTTP 401.
    """

    def __init__(self, auth_key: str = AUTH_KEY, flows: frozenset[str] = frozenset({FLOW_ID})) -> None:
        super().__init__()
        self.auth_key = auth_key
        self.flows = flows
        self.requests_sent: list[dict[str, object]] = []
        self.app.router.add_post("/api/v5/flow/", self._flow)

    async def _flow(self, request: web.Request) -> web.Response:
        if request.headers.get("authkey") != self.auth_key:
            return web.json_response({"type": "error", "message": "Authentication failure"}, status=401)
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _error("Invalid JSON")
        if body.get("template_id") not in self.flows:
            return _error("Flow ID is invalid")
        recipients = body.get("recipients") or []
        if not recipients or not all(MOBILES.match(str(r.get("mobiles", ""))) for r in recipients):
            return _error("Mobile number(s) is invalid")
        self.requests_sent.append(body)
        return web.json_response({"type": "success", "message": secrets.token_hex(12)})


def _error(message: str) -> web.Response:
    return web.json_response({"type": "error", "message": message})
