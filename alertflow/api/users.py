"""Recipients: contact data, devices, locale and timezone of a tenant's users."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import ApiError, invalid
from ..intake.publish import Contact, JsonData
from ..naming import ClientId
from ..recipients import importing
from ..storage import users
from ..tenants import Role
from ..timefmt import check_timezone, iso
from .audit import audited
from .context import services
from .examples import IMPORT_BODIES
from .middleware import MIB, json_response, principal, read_limited, read_model, read_only, same_as_path
from .params import CURSOR, LIMIT, page_size
from .routing import COUNT, PAGE, STRING, Param, Routes, obj

api = Routes()
# A user's browsers: far more than anyone has, few enough that checking each endpoint when it
# is stored (a DNS lookup each, all at once) stays quick.
MAX_WEBPUSH = 50
USER = obj(("user_id", "created_at", "updated_at"), user_id=STRING, created_at=STRING, updated_at=STRING)
# A search query: long enough for any address or name, short enough to stay a search.
MAX_QUERY_CHARS = 200
IMPORTED = obj(imported=COUNT, errors={"type": "array", "items": {"type": "object"}})
# The row errors an import's 422 lists; error_count says how many there were in all.
MAX_REPORTED_ERRORS = 100


class WebPushSubscription(BaseModel):
    model_config = ConfigDict(extra="allow")
    endpoint: str = Field(pattern="^https?://")
    keys: dict[str, str]


class UserIn(Contact):
    """A user as GET shows it: ``user_id`` may be given and must be the path's; the times are ignored."""

    user_id: ClientId | None = None
    # Factories, not [] and {}: pydantic deep-copies a mutable default for every instance, which
    # was most of the time an import of 100,000 users spent validating.
    push_tokens: list[str] = Field(default_factory=list)
    webpush: list[WebPushSubscription] = Field(default_factory=list, max_length=MAX_WEBPUSH)
    locale: str | None = Field(None, max_length=35)
    timezone: str | None = None
    name: str | None = None
    data: JsonData = Field(default_factory=dict)
    created_at: Any = read_only()
    updated_at: Any = read_only()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        return check_timezone(v)


# The columns a CSV import may have: what a PUT takes, less what only the server sets.
IMPORT_COLUMNS = frozenset(UserIn.model_fields) - {"created_at", "updated_at"}


def shape(user: users.User) -> dict[str, Any]:
    return {
        "user_id": user.user_id,
        "email": user.email,
        "phone": user.phone,
        "push_tokens": user.push_tokens,
        "webpush": user.webpush,
        "locale": user.locale,
        "timezone": user.timezone,
        "name": user.name,
        "data": user.data,
        "created_at": iso(user.created_at),
        "updated_at": iso(user.updated_at),
    }


def stored(user_id: str, user: UserIn, now: float) -> users.User:
    """The record a PUT (or an import's row) stores."""
    return users.User(
        user_id=user_id,
        email=user.email,
        phone=user.phone,
        push_tokens=user.push_tokens,
        webpush=[s.model_dump() for s in user.webpush],
        locale=user.locale,
        timezone=user.timezone,
        name=user.name,
        data=user.data,
        created_at=now,
        updated_at=now,
    )


async def _get(request: web.Request, tenant_id: str, user_id: str) -> users.User:
    found = await users.get(services(request).database, tenant_id, user_id)
    if found is None:
        raise ApiError("not-found", "no such user")
    return found


@api.put("/v1/users/{user_id}", role=Role.admin, body=UserIn, response=USER)
async def put_user(request: web.Request) -> web.Response:
    """Create or replace a user's contact data, devices, locale and timezone."""
    svc = services(request)
    tenant_id, user_id = principal(request).tenant_id, request.match_info["user_id"]
    user = await read_model(request, UserIn)
    same_as_path(request, "user_id", user.user_id)
    # A browser's endpoint is where a provider will connect: checked as a provider's URL is.
    refusals = await asyncio.gather(*(svc.channels.endpoint_refusal(s.endpoint) for s in user.webpush))
    for i, why in enumerate(refusals):
        if why is not None:
            raise invalid(f"webpush.{i}.endpoint", why)
    record = stored(user_id, user, svc.clock.now())
    await svc.database.write(lambda tx: users.put(tx, tenant_id, record))
    return json_response(shape(await _get(request, tenant_id, user_id)))


@api.get(
    "/v1/users",
    response=PAGE,
    query=(
        Param("q", {"type": "string", "maxLength": MAX_QUERY_CHARS}, "part of a user's id, email, phone or name"),
        LIMIT,
        CURSOR,
    ),
)
async def list_users(request: web.Request) -> web.Response:
    """List users in user-id order, or those whose id, email, phone or name holds ``q`` (any case)."""
    query, after = request.query.get("q") or None, request.query.get("cursor") or ""
    if query is not None and len(query) > MAX_QUERY_CHARS:
        raise invalid("q", f"at most {MAX_QUERY_CHARS} characters")
    if len(after) > MAX_QUERY_CHARS:
        raise invalid("cursor", "not a cursor this list gave")
    limit = page_size(request)
    found = await users.search(services(request).database, principal(request).tenant_id, query, after, limit + 1)
    more = len(found) > limit
    page = found[:limit]
    return json_response({"items": [shape(u) for u in page], "next_cursor": page[-1].user_id if more else None})


@api.post(
    "/v1/users/import",
    role=Role.admin,
    accepts=IMPORT_BODIES,
    response=IMPORTED,
)
async def import_users(request: web.Request) -> web.Response:
    """Create or replace up to 100,000 users from NDJSON or CSV, all or none.

    Any bad row is a 422 listing the row errors, and nothing is stored."""
    svc, tenant_id = services(request), principal(request).tenant_id
    kind = importing.MEDIA_TYPES.get(request.content_type)
    if kind is None:
        expected = " or ".join(importing.MEDIA_TYPES)
        detail = f"send Content-Type: {expected} (got {request.content_type!r})"
        raise ApiError("unsupported-media-type", detail, [{"field": "Content-Type", "message": detail}])
    try:
        body = await read_limited(request, int(svc.config.server.max_bulk_body_mb * MIB))
    except ApiError as exc:  # 413: said of the body, as the import's other refusals name theirs
        raise ApiError(exc.code, exc.detail, [{"field": "body", "message": exc.detail}]) from None
    now = svc.clock.now()

    def build(row: str | dict[str, Any]) -> users.User:
        user = UserIn.model_validate_json(row) if isinstance(row, str) else UserIn.model_validate(row)
        if user.user_id is None:
            raise importing.NoUserId()
        return stored(user.user_id, user, now)

    try:
        loaded = await importing.load(tenant_id, body, kind, IMPORT_COLUMNS, build, svc.channels.endpoint_refusal)
    except importing.Refused as exc:
        raise ImportReport(exc.errors) from None
    # On PostgreSQL beside the single writer: 100,000 rows would hold it, and every publish, for seconds.
    await svc.database.write_alone(lambda tx: users.put_many(tx, *loaded))
    return json_response({"imported": sum(map(len, loaded)), "errors": []})


class ImportReport(ApiError):
    """An import refused: problem+json with the import's report, the first row errors of all."""

    def __init__(self, errors: list[importing.RowError]) -> None:
        shown = errors[:MAX_REPORTED_ERRORS]
        super().__init__("validation", "; ".join(f"row {e.row}: {e.field}: {e.detail}" for e in shown[:5]))
        self.rows = shown
        self.count = len(errors)

    def body(self) -> dict[str, Any]:
        rows = [{"row": e.row, "field": e.field, "detail": e.detail, "message": e.detail} for e in self.rows]
        return {**super().body(), "imported": 0, "errors": rows, "error_count": self.count}


@api.get("/v1/users/{user_id}", response=USER)
async def get_user(request: web.Request) -> web.Response:
    """Read a user."""
    return json_response(shape(await _get(request, principal(request).tenant_id, request.match_info["user_id"])))


@api.delete("/v1/users/{user_id}", role=Role.admin)
async def delete_user(request: web.Request) -> web.Response:
    """Erase a user: contact data and inbox go; delivery counts stay, anonymised."""
    svc = services(request)
    tenant_id, user_id = principal(request).tenant_id, request.match_info["user_id"]
    change = audited(request, "user.erase", ("user", user_id), lambda tx: users.erase(tx, tenant_id, user_id))
    if not await svc.database.write(change):
        raise ApiError("not-found", "no such user")
    svc.coordinator.user_erased(tenant_id, user_id)
    return web.Response(status=204)
