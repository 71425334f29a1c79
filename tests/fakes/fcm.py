"""Firebase Cloud Messaging HTTP v1 and Google's OAuth token endpoint (JWT bearer flow)."""

from __future__ import annotations

import functools
import json
import secrets
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .http import HttpPeer

PROJECT_ID = "alertflow-test"
CLIENT_EMAIL = "alertflow@alertflow-test.iam.gserviceaccount.com"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# google-auth always signs for this audience, whatever token_uri it posts to.
TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


@functools.cache
def _service_account_key() -> rsa.RSAPrivateKey:
    # RSA-2048 generation takes a noticeable fraction of a second: once per test run.
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class FakeFcm(HttpPeer):
    """``POST /token`` (service-account JWT → access token) and
    ``POST /v1/projects/{project}/messages:send``.

    ``service_account_info()`` is a key whose ``token_uri`` points here. Tokens in
    ``unregistered`` answer 404 UNREGISTERED, those in ``invalid`` 400 INVALID_ARGUMENT on
    ``message.token``; ``messages`` holds each accepted ``message`` object and
    ``token_requests`` counts access-token grants.
    """

    def __init__(self, project_id: str = PROJECT_ID) -> None:
        super().__init__()
        self.project_id = project_id
        self.unregistered: set[str] = set()
        self.invalid: set[str] = set()
        self.messages: list[dict[str, Any]] = []
        self.token_requests = 0
        self._access_tokens: set[str] = set()
        self.app.router.add_post("/token", self._token)
        self.app.router.add_post("/v1/projects/{project}/messages:send", self._send)

    @property
    def send_path(self) -> str:
        return f"/v1/projects/{self.project_id}/messages:send"

    def service_account_info(self) -> dict[str, str]:
        pem = _service_account_key().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": "fake-key-1",
            "private_key": pem.decode(),
            "client_email": CLIENT_EMAIL,
            "client_id": "1234567890",
            "token_uri": self.url("/token"),
        }

    def service_account_json(self) -> str:
        return json.dumps(self.service_account_info())

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        try:
            if form.get("grant_type") != JWT_BEARER:
                raise jwt.InvalidTokenError("unsupported grant type")
            claims = jwt.decode(
                str(form.get("assertion", "")),
                _service_account_key().public_key(),
                algorithms=["RS256"],
                audience=TOKEN_AUDIENCE,
                issuer=CLIENT_EMAIL,
            )
            if FCM_SCOPE not in str(claims.get("scope", "")).split():
                raise jwt.InvalidTokenError("scope lacks firebase.messaging")
        except jwt.InvalidTokenError as exc:
            return web.json_response({"error": "invalid_grant", "error_description": str(exc)}, status=400)
        self.token_requests += 1
        token = "ya29.fake-" + secrets.token_urlsafe(16)
        self._access_tokens.add(token)
        return web.json_response({"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

    async def _send(self, request: web.Request) -> web.Response:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self._access_tokens:
            return _error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        if request.match_info["project"] != self.project_id:
            return _error(403, "PERMISSION_DENIED", "Permission denied on project.")
        message = (await request.json())["message"]
        token = message.get("token")
        if token in self.unregistered:
            return _error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
        if token in self.invalid:
            violation = {"field": "message.token", "description": "Invalid registration token"}
            return _error(
                400,
                "INVALID_ARGUMENT",
                "The registration token is not a valid FCM registration token",
                "INVALID_ARGUMENT",
                {"@type": BAD_REQUEST, "fieldViolations": [violation]},
            )
        self.messages.append(message)
        name = f"projects/{self.project_id}/messages/{len(self.messages)}"
        return web.json_response({"name": name})


def _error(code: int, status: str, message: str, fcm_code: str | None = None, *extra: dict[str, Any]) -> web.Response:
    details: list[dict[str, Any]] = [{"@type": FCM_ERROR, "errorCode": fcm_code}] if fcm_code else []
    body = {"error": {"code": code, "message": message, "status": status, "details": [*details, *extra]}}
    return web.json_response(body, status=code)
