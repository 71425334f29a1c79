"""Templates: immutable versions, one active; admins write, members read and preview."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, SkipValidation, ValidationError

from ..coordination import Cache
from ..delivery import renderer
from ..errors import ApiError, from_validation, invalid, invalid_many
from ..intake.options import SendOptions
from ..intake.publish import JsonData
from ..message import Recipient
from ..naming import MAX_VERSION, ClientId
from ..storage import template_versions
from ..templates import content, render, store, text, validation
from ..tenants import Role
from ..timefmt import iso
from .audit import audited
from .context import Services, services
from .middleware import json_response, principal, read_json, read_model, read_only, same_as_path
from .params import whole_number
from .routing import COUNT, ITEMS, STRING, Routes, obj

api = Routes()
SUMMARY = obj(("key", "active_version", "latest_version"), key=STRING, active_version=COUNT, latest_version=COUNT)
VERSION = obj(("key", "version", "channels"), key=STRING, version=COUNT, channels={"type": "object"})
RENDERED = obj(
    ("locale", "channels", "variables"),
    locale={"type": ["string", "null"]},
    channels={"type": "object"},
    variables={"type": "array", "items": STRING},
)


class VersionIn(BaseModel):
    """A version's body; ``channels`` and ``locales`` are checked by the template engine.

    It may be a version as GET shows it: ``key`` must then be the path's, and ``version``,
    ``variables`` and ``created_at`` are ignored (a PUT always makes the next version)."""

    model_config = ConfigDict(extra="forbid")
    key: ClientId | None = None
    name: str | None = Field(None, max_length=200)
    # Documented as the engine's models, passed to it as sent: it checks them with its own rules.
    channels: SkipValidation[content.ChannelSet]
    locales: SkipValidation[dict[str, content.ChannelSet]] | None = None
    # Send options a publish of this version defaults to (its own win): intake/options.py.
    options: SendOptions | None = None
    version: Any = read_only()
    variables: Any = read_only()
    created_at: Any = read_only()


class TemplateIn(VersionIn):
    key: ClientId


class ActivateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1, le=MAX_VERSION)


class DraftIn(BaseModel):
    """An unsaved version's body and the data to render it with (an editor's live preview)."""

    model_config = ConfigDict(extra="forbid")
    channels: SkipValidation[content.ChannelSet]
    locales: SkipValidation[dict[str, content.ChannelSet]] | None = None
    data: JsonData = {}
    locale: str | None = None


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    data: JsonData = {}
    locale: str | None = None
    version: int | None = Field(None, ge=1, le=MAX_VERSION)


def options_of(body: VersionIn) -> dict[str, Any] | None:
    return body.options.model_dump(exclude_none=True) if body.options is not None else None


async def validated(body: VersionIn | DraftIn) -> content.ValidatedContent:
    try:
        return await validation.validate_content_async({"channels": body.channels, "locales": body.locales or {}})
    except content.TemplateValidationError as exc:
        raise invalid_many([{"field": e.field, "message": e.message} for e in exc.errors]) from None


def shown(body: VersionIn) -> dict[str, Any]:
    """A version as the audit log shows it: what was sent (the engine's models stay as sent)."""
    return {"name": body.name, "channels": body.channels, "locales": body.locales}


async def summary(svc: Services, tenant_id: str, key: str) -> dict[str, Any]:
    head = await svc.templates.summary(tenant_id, key)
    if head is None:
        raise ApiError("not-found", f"no template {key!r}")
    active = await svc.templates.version(tenant_id, key, head.active_version)
    return {
        "key": key,
        "name": head.name,
        "active_version": head.active_version,
        "latest_version": head.latest_version,
        "channels": active.channels,
        "variables": list(active.variables),
        "created_at": iso(head.created_at),
        "updated_at": iso(head.updated_at),
    }


async def version_of(request: web.Request, number: int | None = None) -> store.Version:
    svc, tenant_id, key = services(request), principal(request).tenant_id, request.match_info["key"]
    try:
        return await svc.templates.version(tenant_id, key, number)
    except store.UnknownTemplate:
        raise ApiError("not-found", f"no template {key!r}" + (f" version {number}" if number else "")) from None


@api.post("/v1/templates", role=Role.admin, body=TemplateIn, status=201, response=SUMMARY, problems=("conflict",))
async def create(request: web.Request) -> web.Response:
    """Create a template with its first version."""
    svc, tenant_id = services(request), principal(request).tenant_id
    body = await read_model(request, TemplateIn)
    checked, now = await validated(body), svc.clock.now()
    try:
        await svc.database.write(
            audited(
                request,
                "template.create",
                ("template", body.key),
                lambda tx: store.save_version(
                    tx, tenant_id, body.key, body.name, checked, now, create=True, options=options_of(body)
                ),
                after=shown(body),
            )
        )
    except store.TemplateExists:
        raise ApiError(
            "conflict", f"template {body.key!r} exists; PUT /v1/templates/{body.key} adds a version"
        ) from None
    return json_response(await summary(svc, tenant_id, body.key), status=201)


@api.put("/v1/templates/{key}", role=Role.admin, body=VersionIn, response=SUMMARY)
async def new_version(request: web.Request) -> web.Response:
    """Save a template's next version and make it active (``activate`` rolls back)."""
    svc, tenant_id, key = services(request), principal(request).tenant_id, request.match_info["key"]
    body = await read_model(request, VersionIn)
    same_as_path(request, "key", body.key)
    checked, now = await validated(body), svc.clock.now()
    try:
        await svc.database.write(
            audited(
                request,
                "template.update",
                ("template", key),
                lambda tx: store.save_version(
                    tx, tenant_id, key, body.name, checked, now, create=False, options=options_of(body)
                ),
                after=shown(body),
            )
        )
    except store.UnknownTemplate:
        raise ApiError("not-found", f"no template {key!r}; POST /v1/templates creates it") from None
    return json_response(await summary(svc, tenant_id, key))


@api.get("/v1/templates", response=ITEMS)
async def list_templates(request: web.Request) -> web.Response:
    """List templates with their active and latest versions."""
    svc, tenant_id = services(request), principal(request).tenant_id
    keys = await template_versions.keys(svc.database, tenant_id)
    return json_response({"items": [await summary(svc, tenant_id, k) for k in keys]})


@api.get("/v1/templates/{key}", response=SUMMARY)
async def get_template(request: web.Request) -> web.Response:
    """Read a template with its active version."""
    svc, tenant_id, key = services(request), principal(request).tenant_id, request.match_info["key"]
    out = await summary(svc, tenant_id, key)
    active = await version_of(request, out["active_version"])
    return json_response({**out, "active": active.shape()})


@api.get("/v1/templates/{key}/versions", response=ITEMS)
async def list_versions(request: web.Request) -> web.Response:
    """List every version of a template."""
    svc, tenant_id, key = services(request), principal(request).tenant_id, request.match_info["key"]
    found = await svc.templates.versions(tenant_id, key)
    if not found:
        raise ApiError("not-found", f"no template {key!r}")
    return json_response({"items": [v.shape() for v in found]})


@api.get("/v1/templates/{key}/versions/{n}", response=VERSION)
async def get_version(request: web.Request) -> web.Response:
    """Read one version of a template."""
    number = whole_number("version", request.match_info["n"], 1, MAX_VERSION)
    return json_response((await version_of(request, number)).shape())


@api.post("/v1/templates/{key}/activate", role=Role.admin, body=ActivateIn, response=SUMMARY)
async def activate(request: web.Request) -> web.Response:
    """Make an earlier (or later) version the one publishes use."""
    svc, tenant_id, key = services(request), principal(request).tenant_id, request.match_info["key"]
    body, now = await read_model(request, ActivateIn), svc.clock.now()
    change = audited(
        request,
        "template.activate",
        ("template", key),
        lambda tx: template_versions.activate(tx, tenant_id, key, body.version, now),
        after={"active_version": body.version},
    )
    if not await svc.database.write(change):
        if await svc.templates.summary(tenant_id, key) is None:
            raise ApiError("not-found", f"no template {key!r}")
        raise invalid("version", f"template {key!r} has no version {body.version}")
    return json_response(await summary(svc, tenant_id, key))


@api.delete("/v1/templates/{key}", role=Role.admin)
async def delete(request: web.Request) -> web.Response:
    """Delete a template and all its versions."""
    svc, tenant_id, key = services(request), principal(request).tenant_id, request.match_info["key"]
    change = audited(
        request, "template.delete", ("template", key), lambda tx: template_versions.delete_template(tx, tenant_id, key)
    )
    if not await svc.database.write(change):
        raise ApiError("not-found", f"no template {key!r}")
    svc.coordinator.invalidate(Cache.TEMPLATES, (tenant_id, key))
    return web.Response(status=204)


@api.post("/v1/templates/preview", body=DraftIn, response=RENDERED)
async def preview_draft(request: web.Request) -> web.Response:
    """Render a template body before it is saved, as delivery would: checked like a save, so a
    source that would not save is a 422 naming its field."""
    body = await read_model(request, DraftIn)
    checked = await validated(body)
    return json_response(await rendered(checked.content, checked.variables, body.data, body.locale))


@api.post("/v1/templates/{key}/preview", body=PreviewIn, response=VERSION)
async def preview(request: web.Request) -> web.Response:
    """Render a template's every channel as delivery would, with SMS encoding and segment count."""
    try:
        body = PreviewIn.model_validate(await read_json(request))
    except ValidationError as exc:
        raise from_validation(exc) from None
    version = await version_of(request, body.version)
    if version.refused:
        raise invalid("version", f"version {version.version} cannot be sent ({version.refused}); save a new one")
    out = await rendered(version.content, version.variables, body.data, body.locale)
    return json_response({"key": version.key, "version": version.version, **out})


async def rendered(
    stored: Mapping[str, Any], variables: Iterable[str], data: dict[str, Any], locale: str | None
) -> dict[str, Any]:
    """Every channel of checked content rendered with ``data``, as a publish of it to a
    recipient without a user record would decide and render; a 422 names what fails."""
    missing = content.missing_variables(variables, data, content.provided_variables(user=False))
    if missing:
        raise invalid_many([{"field": e.field, "message": e.message} for e in content.MissingVariables(missing).errors])
    values = renderer.values(data, Recipient(), None, {"unsubscribe_url": "", "preferences_url": ""})
    channels: dict[str, Any] = {}
    for channel in stored["channels"]:
        try:
            fields = await asyncio.to_thread(render.render, stored, channel, values, locale)
        except content.TemplateError as exc:
            raise invalid_many([{"field": e.field, "message": e.message} for e in exc.errors]) from None
        if channel == "sms":
            fields = {**fields, "info": text.sms_info(fields["body"])}
        channels[channel] = fields
    return {"locale": render.pick_locale(stored, locale), "channels": channels, "variables": sorted(variables)}
