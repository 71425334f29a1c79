"""Status webhooks: a tenant's endpoints hear what happened to what it sent (README
"Status webhooks"). Admin and up; a secret is shown once, when made, and sealed at rest."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import urlsplit

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..coordination import Cache
from ..delivery import status_events, status_sending
from ..errors import ApiError, invalid
from ..ids import new_id
from ..providers.channel_setup import masked_url
from ..storage import webhook_endpoints
from ..storage.database import Tx
from ..storage.webhook_endpoints import Endpoint
from ..tenants import Role
from ..timefmt import iso
from .audit import audited, found
from .context import Services, services
from .middleware import json_response, principal, read_model
from .params import CURSOR, LIMIT, MAX_ROW_ID, page_size, whole_number
from .routing import ITEMS, PAGE, STRING, Routes, obj

api = Routes()
T = TypeVar("T")
# Each state change is queued once per endpoint that takes it: a bound keeps one tenant's
# change from becoming hundreds of messages.
MAX_ENDPOINTS = 20
MAX_URL = 2000
WEBHOOK = obj(
    ("id", "url", "events", "disabled"),
    id=STRING,
    url=STRING,
    events={"type": "array", "items": {"enum": list(status_events.EVENT_TYPES)}},
    disabled={"type": "boolean"},
)
CREATED = obj(("id", "secret"), id=STRING, secret=STRING)
TESTED = obj(
    ("event_id", "delivered"),
    event_id=STRING,
    delivered={"type": "boolean"},
    status_code={"type": ["integer", "null"]},
)
Events = Annotated[list[status_events.EventType], Field(min_length=1, max_length=len(status_events.EVENT_TYPES))]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http:// or https:// URL")
    return value


class WebhookIn(BaseModel):
    """A new endpoint: where to POST, and which events."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=MAX_URL)
    events: Events
    description: str | None = Field(None, max_length=500)

    _url = field_validator("url")(_http_url)


class WebhookPatch(BaseModel):
    """What to change; ``enabled: true`` turns a disabled endpoint back on, ``false`` stops it."""

    model_config = ConfigDict(extra="forbid")
    url: str | None = Field(None, max_length=MAX_URL)
    events: Events | None = None
    description: str | None = Field(None, max_length=500)
    enabled: bool | None = None

    _url = field_validator("url")(lambda v: v if v is None else _http_url(v))


def shape(e: Endpoint, now: float) -> dict[str, Any]:
    """An endpoint as GET shows it: never its secret."""
    rolling = e.previous_secret is not None and e.previous_until is not None and e.previous_until > now
    return {
        "id": e.id,
        "url": e.url,
        "events": list(e.events),
        "description": e.description,
        "disabled": e.disabled_at is not None,
        "disabled_reason": e.disabled_reason,
        "disabled_at": iso(e.disabled_at),
        "failing_since": iso(e.failing_since),
        "previous_secret_valid_until": iso(e.previous_until) if rolling else None,
        "created_at": iso(e.created_at),
        "updated_at": iso(e.updated_at),
    }


def _sending(svc: Services) -> status_sending.Sending:
    sending: status_sending.Sending = svc.channels.context.extras[status_sending.EXTRAS_KEY]
    return sending


async def _check_url(svc: Services, url: str) -> None:
    """The outbound guard, as for a provider's URL; checked again on every connection."""
    why = await svc.channels.context.guard.refusal_for_host(urlsplit(url).hostname or "")
    if why is not None:
        raise invalid("url", f"refused: {why}")


async def _write(svc: Services, tenant_id: str, change: Callable[[Tx], T]) -> T:
    """Write, and drop what this node knows of the tenant's endpoints inside the same
    transaction (so a change committed after it sees the new set) and on every node after."""

    def apply(tx: Tx) -> T:
        result = change(tx)
        status_events.forget(tenant_id)
        return result

    result = await svc.database.write(apply)
    svc.coordinator.invalidate(Cache.WEBHOOKS, tenant_id)
    return result


async def _endpoint(request: web.Request) -> Endpoint:
    found = await webhook_endpoints.get(
        services(request).database, principal(request).tenant_id, request.match_info["id"]
    )
    if found is None:
        raise ApiError("not-found", "no such webhook")
    return found


@api.post("/v1/webhooks", role=Role.admin, body=WebhookIn, status=201, response=CREATED, problems=("conflict",))
async def create_webhook(request: web.Request) -> web.Response:
    """Add an endpoint; the answer holds its signing secret, shown this once."""
    svc, tenant_id = services(request), principal(request).tenant_id
    body = await read_model(request, WebhookIn)
    await _check_url(svc, body.url)
    if len(await webhook_endpoints.all_for(svc.database, tenant_id)) >= MAX_ENDPOINTS:
        raise ApiError("conflict", f"a tenant has at most {MAX_ENDPOINTS} webhooks; delete one first")
    now, endpoint_id, secret = svc.clock.now(), new_id("whk"), status_sending.new_secret()
    sealed = _sending(svc).seal(tenant_id, endpoint_id, secret)
    events = tuple(dict.fromkeys(body.events))
    endpoint = Endpoint(
        endpoint_id, tenant_id, body.url, events, body.description, sealed, None, None, None, None, None, now, now
    )
    after = {"url": masked_url(body.url), "events": list(events), "description": body.description}
    change = audited(
        request, "webhook.create", ("webhook", endpoint_id), lambda tx: webhook_endpoints.add(tx, endpoint), after=after
    )
    await _write(svc, tenant_id, change)
    return json_response({**shape(endpoint, now), "secret": secret}, status=201)


@api.get("/v1/webhooks", role=Role.admin, response=ITEMS)
async def list_webhooks(request: web.Request) -> web.Response:
    """List the tenant's endpoints (never their secrets)."""
    svc = services(request)
    found = await webhook_endpoints.all_for(svc.database, principal(request).tenant_id)
    now = svc.clock.now()
    return json_response({"items": [shape(e, now) for e in found]})


@api.get("/v1/webhooks/{id}", role=Role.admin, response=WEBHOOK)
async def get_webhook(request: web.Request) -> web.Response:
    """Read an endpoint: its events, and whether it was disabled for failing."""
    return json_response(shape(await _endpoint(request), services(request).clock.now()))


@api.patch("/v1/webhooks/{id}", role=Role.admin, body=WebhookPatch, response=WEBHOOK)
async def patch_webhook(request: web.Request) -> web.Response:
    """Change an endpoint's URL, events or description, or enable or disable it."""
    svc, tenant_id = services(request), principal(request).tenant_id
    body = await read_model(request, WebhookPatch)
    if body.url is not None:
        await _check_url(svc, body.url)
    endpoint_id, now = request.match_info["id"], svc.clock.now()
    events = tuple(dict.fromkeys(body.events)) if body.events is not None else None

    after = body.model_dump(exclude_unset=True)
    if body.url is not None:
        after["url"] = masked_url(body.url)
    updated = await _write(
        svc,
        tenant_id,
        audited(
            request,
            "webhook.update",
            ("webhook", endpoint_id),
            lambda tx: webhook_endpoints.update(
                tx, tenant_id, endpoint_id, now, body.url, events, body.description, body.enabled
            ),
            after=after,
            when=found,
        ),
    )
    if updated is None:
        raise ApiError("not-found", "no such webhook")
    return json_response(shape(updated, now))


@api.delete("/v1/webhooks/{id}", role=Role.admin)
async def delete_webhook(request: web.Request) -> web.Response:
    """Remove an endpoint and its attempts; its events still queued fail without a send."""
    svc, tenant_id, endpoint_id = services(request), principal(request).tenant_id, request.match_info["id"]
    change = audited(
        request,
        "webhook.delete",
        ("webhook", endpoint_id),
        lambda tx: webhook_endpoints.delete(tx, tenant_id, endpoint_id),
    )
    if not await _write(svc, tenant_id, change):
        raise ApiError("not-found", "no such webhook")
    return web.Response(status=204)


@api.post(
    "/v1/webhooks/{id}/rotate-secret",
    role=Role.admin,
    response=obj(("id", "secret"), id=STRING, secret=STRING, previous_secret_valid_until={"type": ["string", "null"]}),
)
async def rotate_secret(request: web.Request) -> web.Response:
    """Make a new signing secret, shown this once; the old one signs too for a while.

    Events carry a signature by each for ``[webhooks] secret_rollover_hours``, so receivers
    can switch without missing one."""
    svc, tenant_id = services(request), principal(request).tenant_id
    endpoint = await _endpoint(request)
    now, secret = svc.clock.now(), status_sending.new_secret()
    sending = _sending(svc)
    sealed = sending.seal(tenant_id, endpoint.id, secret)
    until = now + sending.config.secret_rollover_hours * status_sending.HOUR
    change = audited(
        request,
        "webhook.rotate_secret",
        ("webhook", endpoint.id),
        lambda tx: webhook_endpoints.rotate(tx, tenant_id, endpoint.id, sealed, until, now),
    )
    if not await _write(svc, tenant_id, change):
        raise ApiError("not-found", "no such webhook")
    return json_response(
        {"id": endpoint.id, "secret": secret, "previous_secret_valid_until": iso(until) if until > now else None}
    )


@api.post("/v1/webhooks/{id}/test", role=Role.admin, response=TESTED)
async def test_webhook(request: web.Request) -> web.Response:
    """Send a ``webhook.test`` event now, once, and answer with how that went."""
    svc = services(request)
    endpoint = await _endpoint(request)
    http = svc.channels.context.http
    if http is None:
        raise ApiError("unavailable", "the server is starting")
    now, event_id = svc.clock.now(), new_id("msg")
    event = status_events.body(status_events.TEST_EVENT, {"webhook_id": endpoint.id}, now)
    result = await status_sending.send(http, svc.database, _sending(svc), endpoint, event_id, event)
    if result.disabled:
        svc.coordinator.invalidate(Cache.WEBHOOKS, endpoint.tenant_id)
    return json_response({"event_id": event_id, "delivered": result.attempt.error is None, **_attempt(result.attempt)})


def _attempt(a: webhook_endpoints.AttemptRow) -> dict[str, Any]:
    return {
        "event_id": a.event_id,
        "event_type": a.event_type,
        "at": iso(a.at),
        "status_code": a.status_code,
        "latency_ms": a.latency_ms,
        "error": a.error,
    }


@api.get("/v1/webhooks/{id}/deliveries", role=Role.admin, response=PAGE, query=(LIMIT, CURSOR))
async def list_attempts(request: web.Request) -> web.Response:
    """Every attempt to reach the endpoint, newest first: time, HTTP status, latency, error."""
    svc = services(request)
    endpoint = await _endpoint(request)
    limit = page_size(request)
    raw = request.query.get("cursor")
    before = whole_number("cursor", raw, 1, MAX_ROW_ID) if raw else None
    found = await webhook_endpoints.attempts(svc.database, endpoint.id, limit + 1, before)
    more = len(found) > limit
    found = found[:limit]
    items = [{"id": str(i), **_attempt(a)} for i, a in found]
    return json_response({"items": items, "next_cursor": str(found[-1][0]) if more and found else None})
