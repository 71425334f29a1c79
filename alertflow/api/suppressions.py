"""The suppression list: addresses the tenant no longer sends to (bounced, complained, or put
there by hand). Admin and up: the list is recipients' contact data."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from ..coordination import Cache
from ..errors import ApiError, invalid
from ..recipients import suppression_list
from ..storage import suppressions
from ..storage.suppressions import Suppression
from ..tenants import Role
from ..timefmt import iso
from .audit import audited
from .context import Services, services
from .middleware import json_response, principal, read_model, read_only
from .params import LIMIT, MAX_ROW_ID, page_size, whole_number
from .routing import PAGE, STRING, Param, Routes, obj

api = Routes()
# Room for a support ticket's reference and a sentence; the list is not a notebook.
MAX_DETAIL_CHARS = 500
# Longer than any email address (RFC 5321: 254) or phone number.
MAX_SEARCH_CHARS = 254
ENTRY = obj(
    ("channel", "address", "reason", "detail", "created_at"),
    channel={"enum": list(suppression_list.CHANNELS)},
    address=STRING,
    reason={"enum": list(suppression_list.REASONS)},
    detail={"type": ["string", "null"]},
    created_at=STRING,
)
QUERY = (
    Param("channel", {"enum": list(suppression_list.CHANNELS)}),
    Param("q", {"type": "string", "maxLength": MAX_SEARCH_CHARS}, "a part of the address"),
    LIMIT,
    Param("cursor", {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID}, "the previous page's next_cursor"),
)
PATH = "/v1/suppressions/{channel}/{address}"


class SuppressionIn(BaseModel):
    """An entry as GET shows it; ``channel`` and ``address``, if given, must be the path's.
    ``reason`` defaults to manual; bounce and complaint carry over lists from elsewhere."""

    model_config = ConfigDict(extra="forbid")
    reason: Literal["manual", "bounce", "complaint"] = "manual"
    detail: str | None = Field(None, max_length=MAX_DETAIL_CHARS)
    channel: str | None = None
    address: str | None = None
    created_at: Any = read_only()


def shape(s: Suppression) -> dict[str, Any]:
    return {
        "channel": s.channel,
        "address": s.address,
        "reason": s.reason,
        "detail": s.detail,
        "created_at": iso(s.created_at),
    }


def entry_of(request: web.Request) -> tuple[str, str]:
    """(channel, normalised address) of the path; a 422 naming the part that is wrong."""
    channel, address = request.match_info["channel"], request.match_info["address"]
    if channel not in suppression_list.CHANNELS:
        raise invalid("channel", f"expected one of {', '.join(suppression_list.CHANNELS)}")
    try:
        return channel, suppression_list.normalise(channel, address)
    except ValueError as exc:
        raise invalid("address", str(exc)) from None


def changed(svc: Services, tenant_id: str) -> None:
    """After a commit that changed the list: publishes look it up again."""
    svc.coordinator.invalidate(Cache.SETTINGS, suppression_list.cache_key(tenant_id))


@api.get("/v1/suppressions", role=Role.admin, query=QUERY, response=PAGE)
async def list_suppressions(request: web.Request) -> web.Response:
    """List the suppression list, newest first; ``q`` finds addresses containing it."""
    channel = request.query.get("channel") or None
    if channel is not None and channel not in suppression_list.CHANNELS:
        raise invalid("channel", f"expected one of {', '.join(suppression_list.CHANNELS)}")
    search = (request.query.get("q") or "").strip().lower() or None
    if search is not None and len(search) > MAX_SEARCH_CHARS:
        raise invalid("q", f"at most {MAX_SEARCH_CHARS} characters")
    cursor = request.query.get("cursor")
    before = whole_number("cursor", cursor, 1, MAX_ROW_ID) if cursor else None
    limit = page_size(request)
    found = await suppressions.page(
        services(request).database, principal(request).tenant_id, channel, search, limit + 1, before
    )
    next_cursor = str(found[limit - 1].id) if len(found) > limit else None
    return json_response({"items": [shape(s) for s in found[:limit]], "next_cursor": next_cursor})


@api.get(PATH, role=Role.admin, response=ENTRY)
async def get_suppression(request: web.Request) -> web.Response:
    """Read why an address is suppressed."""
    channel, address = entry_of(request)
    found = await suppressions.get(services(request).database, principal(request).tenant_id, channel, address)
    if found is None:
        raise ApiError("not-found", f"{address} is not suppressed on {channel}")
    return json_response(shape(found))


@api.put(PATH, role=Role.admin, body=SuppressionIn, response=ENTRY)
async def put_suppression(request: web.Request) -> web.Response:
    """Suppress an address: every later delivery to it is suppressed with this reason."""
    svc, tenant_id = services(request), principal(request).tenant_id
    channel, address = entry_of(request)
    body = await read_model(request, SuppressionIn)
    if body.channel is not None and body.channel != channel:
        raise invalid("channel", f"must be {channel!r}, as in the path, or be left out")
    if body.address is not None and _normalised_or_none(channel, body.address) != address:
        raise invalid("address", f"must be {address!r}, as in the path, or be left out")
    now = svc.clock.now()
    await svc.database.write(
        audited(
            request,
            "suppression.put",
            ("suppression", f"{channel}:{address}"),
            lambda tx: suppressions.put(tx, tenant_id, channel, address, body.reason, body.detail, now),
            after={"reason": body.reason, "detail": body.detail},
        )
    )
    changed(svc, tenant_id)
    found = await suppressions.get(svc.database, tenant_id, channel, address)
    assert found is not None
    return json_response(shape(found))


@api.delete(PATH, role=Role.admin)
async def delete_suppression(request: web.Request) -> web.Response:
    """Send to an address again."""
    svc, tenant_id = services(request), principal(request).tenant_id
    channel, address = entry_of(request)
    deleted = await svc.database.write(
        audited(
            request,
            "suppression.delete",
            ("suppression", f"{channel}:{address}"),
            lambda tx: suppressions.delete(tx, tenant_id, channel, address),
        )
    )
    changed(svc, tenant_id)
    if not deleted:
        raise ApiError("not-found", f"{address} is not suppressed on {channel}")
    return web.Response(status=204)


def _normalised_or_none(channel: str, address: str) -> str | None:
    try:
        return suppression_list.normalise(channel, address)
    except ValueError:
        return None
