"""API keys: listed with their last use, issued (the secret shown once), revoked at once.

Admins manage admin and member keys; owners manage owner keys too (the contract's roles).
"""

from __future__ import annotations

import re
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from .. import keys, tenants
from ..coordination import Cache
from ..errors import ApiError
from ..storage import tenant_rows
from ..storage.database import Tx
from ..tenants import Role
from .audit import audited, note
from .context import services
from .middleware import json_response, principal, read_model
from .routing import ITEMS, STRING, Routes, obj

api = Routes()
# What a prefix looks like (tenants.issue_key); anything else names no key.
PREFIX = re.compile(r"af_[0-9a-f]{8}")
KEY_NAME_CHARS = 100  # a label for people, not a document
ISSUED = obj(api_key=STRING, prefix=STRING, role=STRING, name={"type": ["string", "null"]})


class KeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, min_length=1, max_length=KEY_NAME_CHARS)
    role: Literal["owner", "admin", "member"]


def _forbidden(exc: keys.RoleTooHigh) -> ApiError:
    return ApiError("forbidden", str(exc))


@api.get("/v1/keys", role=Role.admin, response=ITEMS)
async def list_keys(request: web.Request) -> web.Response:
    """List the tenant's keys: prefix, name, role, when created and when last used (to the minute)."""
    svc = services(request)
    found = await tenant_rows.keys(svc.database, principal(request).tenant_id)
    return json_response({"items": [keys.shape(k, svc.key_usage.pending(k.key_id)) for k in found]})


@api.post("/v1/keys", role=Role.admin, body=KeyIn, status=201, response=ISSUED)
async def create_key(request: web.Request) -> web.Response:
    """Issue a key of the caller's role or below; the answer is the only time its secret is shown."""
    svc, caller = services(request), principal(request)
    body = await read_model(request, KeyIn)
    try:
        keys.check_role(caller.role, Role[body.role])
    except keys.RoleTooHigh as exc:
        raise _forbidden(exc) from None
    entry = note(request)

    def issue(tx: Tx) -> tenants.IssuedKey:
        issued = tenants.issue_key(tx, caller.tenant_id, Role[body.role], body.name)
        entry(tx, "key.create", ("key", issued.prefix), after={"role": body.role, "name": body.name})
        return issued

    issued = await svc.database.write(issue)
    return json_response(
        {"api_key": issued.api_key, "prefix": issued.prefix, "role": issued.role.name, "name": body.name}, status=201
    )


@api.delete("/v1/keys/{prefix}", role=Role.admin, problems=("conflict",))
async def revoke_key(request: web.Request) -> web.Response:
    """Revoke a key: the very next request with it is refused, here and on every node."""
    svc, caller, prefix = services(request), principal(request), request.match_info["prefix"]
    if not PREFIX.fullmatch(prefix):
        raise ApiError("not-found", "no such key")
    now = svc.clock.now()

    def revoke(tx: Tx) -> tenant_rows.Revoked:
        return keys.revoke(tx, prefix, now, caller.tenant_id, caller.role)

    try:
        revoked = await svc.database.write(audited(request, "key.revoke", ("key", prefix), revoke))
    except keys.UnknownKey:
        raise ApiError("not-found", "no such key") from None
    except keys.RoleTooHigh as exc:
        raise _forbidden(exc) from None
    except keys.LastOwnerKey as exc:
        raise ApiError("conflict", str(exc)) from None
    except keys.AmbiguousPrefix:
        raise ApiError("conflict", f"several keys share the prefix {prefix}") from None
    svc.coordinator.invalidate(Cache.KEYS, revoked.secret_hash)
    return web.Response(status=204)
