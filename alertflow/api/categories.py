"""Preference categories: built-ins, and the tenant's own (which may redefine a built-in)."""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from ..coordination import Cache
from ..errors import ApiError
from ..intake.options import SendOptions
from ..naming import ClientId
from ..recipients import categories
from ..recipients.categories import BUILTIN, Category
from ..storage import category_rows
from ..tenants import Role
from .audit import audited
from .context import services
from .middleware import json_response, principal, read_model, read_only, same_as_path
from .routing import ITEMS, STRING, Routes, obj

api = Routes()
CATEGORY = obj(
    ("key", "priority", "opt_out_allowed", "builtin", "customised"),  # name and options only when given
    key=STRING,
    name=STRING,
    priority={"enum": ["high", "medium", "low"]},
    opt_out_allowed={"type": "boolean"},
    builtin={"type": "boolean"},
    customised={"type": "boolean"},
    options={"type": "object"},
)


class CategoryIn(BaseModel):
    """A category as GET shows it: ``key`` may be given and must be the path's."""

    model_config = ConfigDict(extra="forbid")
    key: ClientId | None = None
    priority: Literal["high", "medium", "low"] = "medium"
    opt_out_allowed: bool = True
    name: str | None = Field(None, max_length=200)
    # Send options publishes in this category default to (a template's and the publish's win).
    options: SendOptions | None = None
    builtin: Any = read_only()
    customised: Any = read_only()


def shape(c: Category, custom: bool) -> dict[str, object]:
    shaped: dict[str, object] = {
        "key": c.key,
        "priority": c.priority,
        "opt_out_allowed": c.opt_out_allowed,
        "builtin": c.key in BUILTIN,
        "customised": custom,
    }
    if c.name:  # only categories given a name or options show them
        shaped["name"] = c.name
    if c.options:
        shaped["options"] = c.options
    return shaped


@api.get("/v1/categories", response=ITEMS)
async def list_categories(request: web.Request) -> web.Response:
    """List the built-in categories and the tenant's own."""
    db, tenant_id = services(request).database, principal(request).tenant_id
    custom = {r.key for r in await category_rows.all_for(db, tenant_id)}
    found = await categories.all_for(db, tenant_id)
    return json_response({"items": [shape(c, c.key in custom) for c in sorted(found.values(), key=lambda c: c.key)]})


@api.get("/v1/categories/{key}", response=CATEGORY)
async def get_category(request: web.Request) -> web.Response:
    """Read a category's priority and whether recipients may opt out."""
    svc, tenant_id, key = services(request), principal(request).tenant_id, request.match_info["key"]
    found = await categories.resolve(svc.database, tenant_id, key)
    if found is None:
        raise ApiError("not-found", f"no category {key!r}")
    custom = await category_rows.get(svc.database, tenant_id, key)
    return json_response(shape(found, custom is not None))


@api.put("/v1/categories/{key}", role=Role.admin, body=CategoryIn, response=CATEGORY)
async def put_category(request: web.Request) -> web.Response:
    """Define a category, or redefine a built-in one."""
    svc, tenant_id, key = services(request), principal(request).tenant_id, request.match_info["key"]
    body = await read_model(request, CategoryIn)
    same_as_path(request, "key", body.key)
    options = body.options.model_dump(exclude_none=True) if body.options is not None else None
    row = category_rows.CategoryRow(key, body.priority, body.opt_out_allowed, body.name, options or None)
    now = svc.clock.now()
    after = {"priority": body.priority, "opt_out_allowed": body.opt_out_allowed, "name": body.name, "options": options}
    await svc.database.write(
        audited(
            request,
            "category.update",
            ("category", key),
            lambda tx: category_rows.put(tx, tenant_id, row, now),
            after=after,
        )
    )
    svc.coordinator.invalidate(Cache.SETTINGS, categories.cache_key(tenant_id))
    return json_response(shape(Category(key, body.priority, body.opt_out_allowed, row.options, body.name), True))


@api.delete("/v1/categories/{key}", role=Role.admin)
async def delete_category(request: web.Request) -> web.Response:
    """Remove the tenant's definition of a category; a built-in falls back to its default."""
    svc, tenant_id, key = services(request), principal(request).tenant_id, request.match_info["key"]
    deleted = await svc.database.write(
        audited(request, "category.delete", ("category", key), lambda tx: category_rows.delete(tx, tenant_id, key))
    )
    svc.coordinator.invalidate(Cache.SETTINGS, categories.cache_key(tenant_id))
    if not deleted:
        raise ApiError("not-found", f"the tenant has no category {key!r} of its own")
    return web.Response(status=204)
