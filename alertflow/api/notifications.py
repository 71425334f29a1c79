"""Publishing and reading notifications."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from .. import categories, history, preferences, queue, recipients, templating
from ..errors import ApiError, invalid, invalid_many
from ..publish import MAX_RECIPIENTS, Audience, Plan, PublishRequest, RecipientIn, choose_channels, plan, store
from ..services import Services, services
from ..storage.database import Database
from ..templates import UnknownTemplate
from ..timefmt import parse
from .middleware import json_response, principal, read_model
from .routing import Routes

api = Routes()
log = logging.getLogger("alertflow.publish")
STATUSES = ("scheduled", "queued", "sending", "sent", "delivered", "failed", "suppressed", "dead", "cancelled")
MAX_IDEMPOTENCY_KEY = 255
DEFAULT_PAGE, MAX_PAGE = 50, 500


@api.post("/v1/notifications/publish", body=PublishRequest)
async def publish(request: web.Request) -> web.Response:
    svc = services(request)
    tenant_id = principal(request).tenant_id
    svc.limiter.check(tenant_id)
    idempotency_key = idempotency_key_of(request)
    req = await read_model(request, PublishRequest)
    recipients_in = await recipients_of(svc.database, tenant_id, req)
    audience = await audience_for(svc, tenant_id, req, recipients_in)
    now = svc.clock.now()
    p = plan(req, recipients_in, audience, now)
    response, created = await svc.database.write(lambda conn: store(conn, tenant_id, idempotency_key, p, now))
    if created:
        announce(svc, p)
    return json_response(response, status=202)


def idempotency_key_of(request: web.Request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        raise invalid("Idempotency-Key", f"give 1 to {MAX_IDEMPOTENCY_KEY} characters")
    return key


async def recipients_of(db: Database, tenant_id: str, req: PublishRequest) -> list[RecipientIn]:
    if req.to is not None:
        return req.to
    assert req.topic is not None
    members = await recipients.topic_members(db, tenant_id, req.topic)
    if not members:
        raise invalid("topic", f"topic {req.topic!r} has no subscribers")
    if len(members) > MAX_RECIPIENTS:
        raise invalid("topic", f"topic {req.topic!r} has {len(members)} subscribers; use /v1/notifications/bulk")
    return [RecipientIn(user_id=m) for m in members]


async def audience_for(svc: Services, tenant_id: str, req: PublishRequest, to: list[RecipientIn]) -> Audience:
    """Category, content, channels, users and preferences: everything a plan looks up."""
    db = svc.database
    known = await svc.settings.get(("categories", tenant_id), lambda: categories.all_for(db, tenant_id))
    category = known.get(req.category)
    if category is None:
        raise invalid("category", f"unknown category {req.category!r}")
    content, version, needed, available = await source_of(svc, tenant_id, req)
    missing = templating.missing_variables(needed, req.data)
    if missing:
        raise invalid_many(
            [{"field": f"data.{name}", "message": "the template needs this variable"} for name in missing]
        )
    user_ids = {r.user_id for r in to if r.user_id}
    tenant_prefs = await svc.settings.get(("defaults", tenant_id), lambda: preferences.defaults(db, tenant_id))
    user_prefs = await preferences.for_users(db, tenant_id, user_ids)
    return Audience(
        tenant_id,
        category,
        choose_channels(req, available),
        await recipients.users(db, tenant_id, user_ids),
        user_prefs,
        tenant_prefs,
        template_version=version,
        content=content,
    )


async def source_of(
    svc: Services, tenant_id: str, req: PublishRequest
) -> tuple[dict[str, Any] | None, int | None, tuple[str, ...], list[str]]:
    """(inline content, template version, variables needed, channels available)."""
    if req.content is not None:
        if all(getattr(req.content, name) is None for name in type(req.content).model_fields):
            raise invalid("content", "needs at least one channel")
        try:
            checked = templating.validate_model(
                templating.TemplateContent.model_construct(channels=req.content, locales={})
            )
        except templating.TemplateValidationError as exc:
            raise invalid_many(
                [{"field": "content" + e.field.removeprefix("channels"), "message": e.message} for e in exc.errors]
            ) from None
        return checked.content, None, checked.variables, list(checked.channels)
    assert req.template is not None
    try:
        version = await svc.templates.version(tenant_id, req.template, req.template_version)
    except UnknownTemplate:
        field = "template_version" if req.template_version is not None else "template"
        raise invalid(
            field,
            f"no template {req.template!r}" + (f" version {req.template_version}" if req.template_version else ""),
        ) from None
    return None, version.version, version.variables, version.channels


def announce(svc: Services, p: Plan) -> None:
    """After the commit: wake the pools, tell the timer, log each new delivery's state."""
    if svc.pools:
        svc.pools.ready(p.ready_channels)
        if p.earliest_scheduled is not None:
            svc.pools.scheduled()
    if log.isEnabledFor(logging.INFO):
        for status, tenant_id, nid, did, channel, reason in p.events:
            log.info(
                status,
                extra={
                    "event": "delivery." + status,
                    "tenant_id": tenant_id,
                    "notification_id": nid,
                    "delivery_id": did,
                    "channel": channel,
                    "reason": reason,
                },
            )


@api.get("/v1/notifications/{id}")
async def get_notification(request: web.Request) -> web.Response:
    found = await history.get(services(request).database, principal(request).tenant_id, request.match_info["id"])
    if found is None:
        raise ApiError("not-found", "no such notification")
    return json_response(found)


def page_size(request: web.Request) -> int:
    raw = request.query.get("limit", str(DEFAULT_PAGE))
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise invalid("limit", f"expected a whole number from 1 to {MAX_PAGE}")
    return int(raw)


@api.get("/v1/notifications")
async def list_notifications(request: web.Request) -> web.Response:
    q = request.query
    if q.get("status") and q["status"] not in STATUSES:
        raise invalid("status", f"expected one of {', '.join(STATUSES)}")
    filters: dict[str, Any] = {k: q.get(k) for k in ("status", "channel", "user_id", "category")}
    for bound in ("since", "until"):
        if q.get(bound):
            filters[bound] = parse(bound, q[bound])
    items, cursor = await history.page(
        services(request).database, principal(request).tenant_id, filters, page_size(request), q.get("cursor")
    )
    return json_response({"items": items, "next_cursor": cursor})


@api.post("/v1/notifications/{id}/cancel")
async def cancel(request: web.Request) -> web.Response:
    svc = services(request)
    tenant_id = principal(request).tenant_id
    nid = request.match_info["id"]
    now = svc.clock.now()
    cancelled = await svc.database.write(lambda conn: queue.cancel(conn, tenant_id, nid, now))
    if cancelled is None:
        raise ApiError("not-found", "no such notification")
    for did in cancelled:
        log.info(
            "cancelled",
            extra={"event": "delivery.cancelled", "tenant_id": tenant_id, "notification_id": nid, "delivery_id": did},
        )
    return json_response(await history.get(svc.database, tenant_id, nid))
