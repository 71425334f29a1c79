"""/v1/tenants: an operator's list of every tenant, and new tenants with their first owner key."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from .. import naming, tenants
from ..errors import ApiError, invalid
from ..storage import tenant_rows
from ..storage.database import Tx
from ..timefmt import iso
from .context import services
from .middleware import json_response, principal, read_model
from .routing import ITEMS, STRING, Routes, obj

api = Routes()
OPERATOR = "an operator's session"


class TenantIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str


def operator_only(request: web.Request) -> None:
    if not principal(request).operator:
        raise ApiError("forbidden", "only an operator manages tenants (alertflow members create --operator)")


@api.get("/v1/tenants", access=OPERATOR, response=ITEMS)
async def list_tenants(request: web.Request) -> web.Response:
    """List every tenant, oldest first."""
    operator_only(request)
    found = await tenant_rows.all_tenants(services(request).database)
    return json_response(
        {"items": [{"tenant_id": t.tenant_id, "name": t.name, "created_at": iso(t.created_at)} for t in found]}
    )


@api.post(
    "/v1/tenants",
    access=OPERATOR,
    body=TenantIn,
    status=201,
    response=obj(tenant_id=STRING, name=STRING, api_key=STRING),
    problems=("conflict",),
)
async def create_tenant(request: web.Request) -> web.Response:
    """Create a tenant and its first owner key (shown once), as `alertflow tenants create` does."""
    operator_only(request)
    body = await read_model(request, TenantIn)
    if not naming.is_valid(body.name):
        raise invalid("name", naming.RULE)

    def create(tx: Tx) -> tuple[str, tenants.IssuedKey]:
        try:
            return tenants.create_tenant(tx, body.name)
        except tenants.DuplicateTenant:
            raise ApiError("conflict", f"a tenant named {body.name!r} already exists") from None

    tenant_id, key = await services(request).database.write(create)
    return json_response({"tenant_id": tenant_id, "name": body.name, "api_key": key.api_key}, 201)
