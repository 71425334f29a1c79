"""A tenant's retention: its own days per kind of row, or the configured default (owner)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from ..storage import retention_rows
from ..storage.retention_rows import KINDS
from ..tenants import Role
from .audit import audited
from .context import Services, services
from .middleware import json_response, principal, read_model, read_only
from .routing import Routes, obj

api = Routes()
# A hundred years: past it a "days" value is a mistake, not a policy.
MAX_DAYS = 36500
OWN = {"type": ["integer", "null"], "minimum": 0, "maximum": MAX_DAYS}
DAYS = {"type": "object", "properties": {k: {"type": "integer"} for k in KINDS}}
SETTINGS = obj((*KINDS, "defaults", "effective"), **{k: OWN for k in KINDS}, defaults=DAYS, effective=DAYS)
Days = int | None


class RetentionIn(BaseModel):
    """The tenant's own days per kind: null keeps the configured default, 0 keeps forever.
    A kind left out keeps its current setting. ``defaults`` and ``effective`` are GET's and ignored."""

    model_config = ConfigDict(extra="forbid")
    notifications: Days = Field(None, ge=0, le=MAX_DAYS)
    inbox: Days = Field(None, ge=0, le=MAX_DAYS)
    outbox: Days = Field(None, ge=0, le=MAX_DAYS)
    webhook_attempts: Days = Field(None, ge=0, le=MAX_DAYS)
    audit: Days = Field(None, ge=0, le=MAX_DAYS)
    defaults: Any = read_only()
    effective: Any = read_only()


async def shown(svc: Services, tenant_id: str) -> dict[str, Any]:
    own = await retention_rows.settings(svc.database, tenant_id)
    defaults = {k: int(getattr(svc.config.retention, k)) for k in KINDS}
    effective = {k: defaults[k] if own[k] is None else own[k] for k in KINDS}
    return {**own, "defaults": defaults, "effective": effective}


@api.get("/v1/retention", role=Role.owner, response=SETTINGS)
async def get_retention(request: web.Request) -> web.Response:
    """Read the tenant's retention days: its own, the configured defaults, and what applies."""
    return json_response(await shown(services(request), principal(request).tenant_id))


@api.put("/v1/retention", role=Role.owner, body=RetentionIn, response=SETTINGS)
async def put_retention(request: web.Request) -> web.Response:
    """Set the tenant's own retention days; the next purge applies them."""
    svc, tenant_id = services(request), principal(request).tenant_id
    body = await read_model(request, RetentionIn)
    before = await retention_rows.settings(svc.database, tenant_id)
    after = {**before, **body.model_dump(include=set(KINDS), exclude_unset=True)}
    change = audited(
        request,
        "retention.update",
        ("retention", tenant_id),
        lambda tx: retention_rows.put_settings(tx, tenant_id, after),
        before,
        after,
    )
    await svc.database.write(change)
    return json_response(await shown(svc, tenant_id))
