"""Bounce, complaint and delivery reports from Amazon SES (through SNS) and SendGrid's Event
Webhook, each at a tenant's secret URL and signature-verified (providers/amazon_sns.py,
providers/sendgrid_events.py), applied by delivery/feedback.py.

The URL's token says which tenant a report is for; the signature says the provider sent
it. A report older than ``[receipts] max_age_seconds`` is refused, and one seen before
within that window changes nothing, so a captured post cannot be replayed to any effect.
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, field_validator

from ..delivery import feedback
from ..errors import ApiError
from ..providers import sendgrid_events
from ..providers.amazon_sns import InvalidMessage, SnsVerifier, ses_reports
from ..storage import receipt_endpoints
from ..tenants import Role, hash_key
from .context import Services, services
from .middleware import json_response, malformed, principal, read_body, read_model
from .routing import PUBLIC, STRING, Routes, obj
from .suppressions import changed

api = Routes()
log = logging.getLogger("alertflow.receipts")
SNS = web.AppKey("sns", SnsVerifier)
# A token's randomness: as much as an API key's, since it is a credential in a URL.
TOKEN_BYTES = 32
# How far ahead of our clock a report's timestamp may be (clocks drift; SNS's is NTP's).
CLOCK_SKEW_SECONDS = 300.0
ENDPOINT = obj(provider={"enum": ["ses", "sendgrid"]}, url=STRING)
INTAKE: dict[str, Any] = {
    "role": PUBLIC,
    "access": "the secret URL and the provider's signature",
    "status": 204,
    "content": None,
    "problems": ("forbidden", "bad-request", "unavailable"),
}


class SendgridIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    public_key: str

    @field_validator("public_key")
    @classmethod
    def _key(cls, value: str) -> str:
        sendgrid_events.public_key(value)  # raises ValueError saying what is wrong
        return value.strip()


async def new_endpoint(request: web.Request, provider: str, public_key: str | None) -> web.Response:
    """A new secret URL for ``provider``; the one before stops working."""
    svc, tenant_id = services(request), principal(request).tenant_id
    token, now = secrets.token_urlsafe(TOKEN_BYTES), svc.clock.now()
    await svc.database.write(
        lambda tx: receipt_endpoints.put(tx, tenant_id, provider, hash_key(token), public_key, now)
    )
    url = f"{svc.links.base_url}/v1/receipts/{provider}/{token}"
    return json_response({"provider": provider, "url": url}, status=201)


@api.post("/v1/receipts/ses", role=Role.admin, status=201, response=ENDPOINT)
async def create_ses_endpoint(request: web.Request) -> web.Response:
    """Make the secret URL to subscribe to the SNS topic of SES's notifications (shown once)."""
    return await new_endpoint(request, "ses", None)


@api.post("/v1/receipts/sendgrid", role=Role.admin, body=SendgridIn, status=201, response=ENDPOINT)
async def create_sendgrid_endpoint(request: web.Request) -> web.Response:
    """Make the secret URL for SendGrid's Event Webhook, with its verification key (shown once)."""
    body = await read_model(request, SendgridIn)
    return await new_endpoint(request, "sendgrid", body.public_key)


async def endpoint_of(svc: Services, provider: str, token: str) -> receipt_endpoints.Endpoint:
    found = await receipt_endpoints.by_token(svc.database, provider, hash_key(token))
    if found is None:
        raise ApiError("not-found", "no such receipt URL")
    return found


def refuse_stale(svc: Services, timestamp: float, where: dict[str, str]) -> None:
    """A report from outside the replay window is refused: within it, it is applied once."""
    now = svc.clock.now()
    if now - timestamp > svc.config.receipts.max_age_seconds or timestamp - now > CLOCK_SKEW_SECONDS:
        log.warning("receipt refused: outside the replay window", extra=where)
        raise ApiError("forbidden", "the report's timestamp is too old (or in the future): refused as a replay")


async def apply(svc: Services, tenant_id: str, provider: str, reports: list[feedback.Report]) -> None:
    now = svc.clock.now()
    forget_before = now - svc.config.receipts.max_age_seconds
    applied = await svc.database.write(lambda tx: feedback.apply(tx, tenant_id, provider, reports, now, forget_before))
    if applied.listed:
        changed(svc, tenant_id)
    feedback.announce(tenant_id, provider, applied)


@api.post("/v1/receipts/ses/{token}", **INTAKE)
async def ses_intake(request: web.Request) -> web.Response:
    """Take an SNS message carrying SES's bounce, complaint and delivery notifications."""
    svc = services(request)
    endpoint = await endpoint_of(svc, "ses", request.match_info["token"])
    where = {"tenant_id": endpoint.tenant_id, "provider": "ses"}
    try:
        body = json.loads(await read_body(request, json_only=False))
    except (ValueError, UnicodeDecodeError) as exc:
        raise malformed(exc) from None
    if not isinstance(body, dict):
        raise ApiError("bad-request", "expected an SNS message (a JSON object); turn raw message delivery off")
    verifier = request.app[SNS]
    try:
        message = await verifier.verify(body)
    except InvalidMessage as exc:
        log.warning("receipt refused: %s", exc, extra=where)
        raise ApiError("forbidden", f"the SNS message does not verify: {exc}") from None
    refuse_stale(svc, message.timestamp, where)
    if message.type == "SubscriptionConfirmation":
        try:
            await verifier.confirm(message)
        except InvalidMessage as exc:
            raise ApiError("forbidden", str(exc)) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise ApiError("unavailable", f"the subscription could not be confirmed: {exc}") from None
        log.info("subscription confirmed", extra={**where, "topic_arn": message.topic_arn})
    elif message.type == "Notification":
        await apply(svc, endpoint.tenant_id, "ses", ses_reports(message))
    return web.Response(status=204)


@api.post("/v1/receipts/sendgrid/{token}", **INTAKE)
async def sendgrid_intake(request: web.Request) -> web.Response:
    """Take a post of SendGrid's Event Webhook (bounce, dropped, spamreport, delivered)."""
    svc = services(request)
    endpoint = await endpoint_of(svc, "sendgrid", request.match_info["token"])
    where = {"tenant_id": endpoint.tenant_id, "provider": "sendgrid"}
    signature = request.headers.get(sendgrid_events.SIGNATURE_HEADER)
    timestamp = request.headers.get(sendgrid_events.TIMESTAMP_HEADER, "")
    if not signature or not timestamp.isascii() or not timestamp.isdigit():
        raise ApiError("forbidden", f"the post is not signed ({sendgrid_events.SIGNATURE_HEADER}, -Timestamp)")
    raw = await read_body(request, json_only=False)
    try:
        sendgrid_events.verify(endpoint.public_key or "", timestamp, signature, raw)
    except sendgrid_events.InvalidEvents as exc:
        log.warning("receipt refused: %s", exc, extra=where)
        raise ApiError("forbidden", f"the post does not verify: {exc}") from None
    refuse_stale(svc, float(timestamp), where)
    try:
        events = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise malformed(exc) from None
    await apply(svc, endpoint.tenant_id, "sendgrid", sendgrid_events.reports(events))
    return web.Response(status=204)
