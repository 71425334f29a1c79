"""Bulk sends: accept a batch, show its progress by delivery status, cancel what is unsent."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..coordination import Cache
from ..errors import ApiError, invalid
from ..intake import batches, idempotency
from ..intake.batches import BulkRequest
from ..storage import bulk_batches as stored
from ..storage.database import Tx
from .context import services
from .middleware import json_response, principal, read_model
from .notifications import idempotency_key_of
from .params import CURSOR, LIMIT, choice, page_size
from .routing import COUNT, PAGE, STRING, Param, Routes, obj

api = Routes()
BATCH = obj(
    ("batch_id", "recipients", "status", "counts"),
    batch_id=STRING,
    recipients=COUNT,
    status=STRING,
    counts={"type": "object", "additionalProperties": COUNT},
)


@api.post(
    "/v1/notifications/bulk",
    body=BulkRequest,
    status=202,
    response=obj(batch_id=STRING, recipients=COUNT),
    problems=("rate-limited",),
)
async def bulk(request: web.Request) -> web.Response:
    """Send one message to up to 100,000 recipients or a whole topic.

    202 once the batch and its recipients are committed; the fan-out follows (fanout.py).
    The same ``Idempotency-Key`` with the same body returns the first batch and stores
    nothing new; with another body it is a 422 (see idempotency.py)."""
    svc = services(request)
    tenant_id = principal(request).tenant_id
    await svc.limiter.check(tenant_id)
    raw_key = idempotency_key_of(request)
    req = await read_model(request, BulkRequest, svc.config.server.max_bulk_body_mb)
    key = idempotency.key_for(raw_key, request.method, request.path, req)
    earlier = await idempotency.earlier_response(svc.database, tenant_id, key, svc.clock.now())
    if earlier is not None:
        return json_response(earlier, status=202)
    batch = await batches.prepare(svc, tenant_id, req)
    now = svc.clock.now()

    def create(tx: Tx) -> tuple[dict[str, Any], bool]:
        batch_id, count, created = batches.store(tx, batch, now)
        return {"batch_id": batch_id, "recipients": count}, created

    response, created = await svc.database.write(lambda tx: idempotency.once(tx, tenant_id, key, now, create))
    if created:
        svc.coordinator.batches_waiting()
    return json_response(response, status=202)


# What GET shows as a batch's status, and the stored statuses each is read from: a batch
# fanned out is "sending" until its deliveries have settled, then "completed".
SHOWN_STATUSES: dict[str, tuple[str, ...]] = {
    "fanning_out": (stored.FANNING_OUT,),
    "sending": (stored.FANNED_OUT,),
    "completed": (stored.FANNED_OUT,),
    "cancelling": (stored.CANCELLING,),
    "cancelled": (stored.CANCELLED,),
    "failed": (stored.FAILED,),
}
# Stored rows one page reads at most, in multiples of its size, to find batches "sending" or
# "completed" (told apart by counting): a page may come back short, with a next_cursor.
SCAN_PAGES = 5
MAX_CURSOR_CHARS = 100  # a batch id is 30


@api.get(
    "/v1/batches",
    response=PAGE,
    query=(Param("status", {"enum": list(SHOWN_STATUSES)}, "only batches with this status"), LIMIT, CURSOR),
)
async def list_batches(request: web.Request) -> web.Response:
    """List the tenant's batches, newest first, with their progress."""
    svc, tenant_id = services(request), principal(request).tenant_id
    status, limit = choice(request, "status", tuple(SHOWN_STATUSES)), page_size(request)
    cursor = request.query.get("cursor") or None
    if cursor is not None and len(cursor) > MAX_CURSOR_CHARS:
        raise invalid("cursor", "not a cursor this list gave")
    items: list[dict[str, Any]] = []
    for _ in range(SCAN_PAGES):
        found = await stored.page(svc.database, tenant_id, SHOWN_STATUSES[status] if status else (), cursor, limit)
        for batch in found:
            cursor = batch.id
            shown = await batches.view_of(svc, batch)
            if status is None or shown["status"] == status:
                items.append(shown)
                if len(items) == limit:
                    return json_response({"items": items, "next_cursor": cursor})
        if len(found) < limit:
            return json_response({"items": items, "next_cursor": None})
    return json_response({"items": items, "next_cursor": cursor})


@api.get("/v1/batches/{id}", response=BATCH)
async def get_batch(request: web.Request) -> web.Response:
    """Read a batch's progress: its deliveries counted by status."""
    found = await batches.view(services(request), principal(request).tenant_id, request.match_info["id"])
    if found is None:
        raise ApiError("not-found", "no such batch")
    return json_response(found)


@api.post("/v1/batches/{id}/cancel", response=BATCH)
async def cancel_batch(request: web.Request) -> web.Response:
    """Cancel a batch: stop its fan-out and cancel every delivery not yet being sent."""
    svc, tenant_id, batch_id = services(request), principal(request).tenant_id, request.match_info["id"]
    now = svc.clock.now()
    status = await svc.database.write(lambda tx: stored.begin_cancel(tx, tenant_id, batch_id, now))
    if status is None:
        raise ApiError("not-found", "no such batch")
    if status == stored.CANCELLING:
        await batches.cancel_unsent(svc.database, tenant_id, batch_id, now)
    svc.coordinator.invalidate(Cache.BATCH_COUNTS, batch_id)  # the answer shows the cancel done
    return json_response(await batches.view(svc, tenant_id, batch_id))
