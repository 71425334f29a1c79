"""Providers: what is installed, each tenant's set-up per channel, and providers' status callbacks."""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from yarl import URL

from ..coordination import Cache
from ..delivery import status_events, trial
from ..delivery.deliverer import recipient_for
from ..errors import ApiError, invalid
from ..intake.publish import RecipientIn
from ..message import CHANNELS
from ..outcomes import InvalidReceipt, clip
from ..providers.channel_setup import MASK, RATE_KEY, Entry, UnreadableSetup, masked_url
from ..providers.interface import ProviderConfigError
from ..storage import channel_setups, deliveries, users
from ..storage.database import Tx
from ..tenants import Role
from .audit import audited
from .context import Services, services
from .middleware import json_response, principal, read_model, read_only, same_as_path
from .routing import OBJECT, PUBLIC, STRING, Routes, obj

api = Routes()
log = logging.getLogger("alertflow.receipts")
# A provider's receipt statuses as delivery statuses; others (queued, sending) change nothing.
RECEIPT_STATUSES = {"delivered": "delivered", "undelivered": "failed", "failed": "failed"}
SETUP = obj(
    ("channel", "source", "providers"),
    channel=STRING,
    source={"enum": ["tenant", "config", "builtin"]},
    providers={"type": "array"},
    unreadable=STRING,
)
# Far above any provider's real limit, and finite: an infinite rate would never wait at all.
MAX_RATE_PER_SECOND = 1_000_000


class ProviderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(max_length=100)
    config: dict[str, Any] = {}
    rate_per_second: float | None = Field(None, gt=0, le=MAX_RATE_PER_SECOND, allow_inf_nan=False)


class ChannelIn(BaseModel):
    """A channel's set-up as GET shows it: ``channel`` may be given and must be the path's."""

    model_config = ConfigDict(extra="forbid")
    channel: str | None = None
    providers: list[ProviderIn] = Field(min_length=1, max_length=10)
    source: Any = read_only()


def channel_of(request: web.Request) -> str:
    channel = request.match_info["channel"]
    if channel not in CHANNELS:
        raise ApiError("not-found", f"no channel {channel!r}; channels are {', '.join(CHANNELS)}")
    return channel


async def setup(svc: Services, tenant_id: str, channel: str) -> dict[str, Any]:
    try:
        own = await svc.channels.tenant_entries(svc.database, tenant_id, channel)
    except UnreadableSetup as exc:
        # Shown, not a 500: the owner must be able to see why nothing sends, and replace it.
        return {"channel": channel, "source": "tenant", "providers": [], "unreadable": str(exc)}
    entries = own if own is not None else svc.channels.defaults(channel)
    source = "tenant" if own is not None else "config" if channel in svc.config.providers else "builtin"
    return {"channel": channel, "source": source, "providers": svc.channels.masked(entries)}


async def current_entries(svc: Services, tenant_id: str, channel: str) -> list[Entry]:
    """What a PUT's masked secrets stand for: nothing, where the stored set-up is unreadable."""
    try:
        own = await svc.channels.tenant_entries(svc.database, tenant_id, channel)
    except UnreadableSetup:
        return []
    return own if own is not None else svc.channels.defaults(channel)


@api.get("/v1/providers", response=obj(installed={"type": "array"}, channels=OBJECT))
async def list_providers(request: web.Request) -> web.Response:
    """List the installed provider types and this tenant's set-up of every channel."""
    svc, tenant_id = services(request), principal(request).tenant_id
    return json_response(
        {
            "installed": svc.registry.describe(),
            "channels": {c: await setup(svc, tenant_id, c) for c in CHANNELS},
        }
    )


@api.get("/v1/channels/{channel}", response=SETUP)
async def get_channel(request: web.Request) -> web.Response:
    """Read a channel's providers, secrets masked."""
    return json_response(await setup(services(request), principal(request).tenant_id, channel_of(request)))


@api.put("/v1/channels/{channel}", role=Role.owner, body=ChannelIn, response=SETUP)
async def put_channel(request: web.Request) -> web.Response:
    """Set a channel's providers: the first is primary, the rest fail-over. Secrets are sealed at rest."""
    svc, tenant_id, channel = services(request), principal(request).tenant_id, channel_of(request)
    body = await read_model(request, ChannelIn)
    same_as_path(request, "channel", body.channel)
    current = await current_entries(svc, tenant_id, channel)
    raw = [
        {
            "type": p.type,
            RATE_KEY: p.rate_per_second,
            **unmasked(p, current[i] if i < len(current) else None, f"providers.{i}.config"),
        }
        for i, p in enumerate(body.providers)
    ]
    try:
        entries = svc.channels.parse(
            channel, [{k: v for k, v in r.items() if v is not None or k != RATE_KEY} for r in raw], "providers"
        )
        await svc.channels.refuse_inside(entries, "providers")
    except ProviderConfigError as exc:
        # The request nests settings under "config": name the field as the caller wrote it.
        parts = exc.path.split(".")
        field = ".".join(parts[:2] + (["type"] if parts[2:] == ["type"] else ["config", *parts[2:]]))
        raise invalid(field, exc.message) from None
    stored, now = svc.channels.sealed(tenant_id, channel, entries), svc.clock.now()
    change = audited(
        request,
        "channel.update",
        ("channel", channel),
        lambda tx: channel_setups.save(tx, tenant_id, channel, stored, now),
        before=svc.channels.masked(current),
        after=svc.channels.masked(entries),
    )
    await svc.database.write(change)
    svc.coordinator.invalidate(Cache.CHANNELS, (tenant_id, channel))
    return json_response(await setup(svc, tenant_id, channel))


def unmasked(sent: ProviderIn, current: Entry | None, field: str) -> dict[str, Any]:
    """``sent``'s settings, a secret sent back as GET's mask being the one ``current`` holds.

    GET never shows a secret, so a client that reads a set-up, changes one field and puts it
    back sends the mask: stored, it would silently replace the real secret."""
    config = dict(sent.config)
    kept = current.settings.model_dump(mode="json") if current and current.type_name == sent.type else {}
    for key, value in config.items():
        config[key] = _unmasked_value(value, kept.get(key), f"{field}.{key}")
    return config


def _unmasked_value(value: Any, stored: Any, field: str) -> Any:
    """``value``, or the stored setting it stands for when it is, or holds, GET's mask."""
    if value == MASK:
        if stored is None:
            raise invalid(field, "this is the mask GET shows in place of a secret; send the secret")
        return stored
    # A URL's credentials are masked inside it (masked_url): sent back as shown, it stands for
    # the stored URL; edited around the masks, it would keep a mask for credentials.
    if isinstance(value, str) and MASK in value and isinstance(stored, str) and masked_url(stored) != stored:
        if value != masked_url(stored):
            raise invalid(field, "keeps the mask GET shows in place of credentials; send them")
        return stored
    return value


@api.delete("/v1/channels/{channel}", role=Role.owner)
async def delete_channel(request: web.Request) -> web.Response:
    """Drop the tenant's set-up of a channel: it goes back to the configured default."""
    svc, tenant_id, channel = services(request), principal(request).tenant_id, channel_of(request)
    deleted = await svc.database.write(
        audited(
            request, "channel.delete", ("channel", channel), lambda tx: channel_setups.delete(tx, tenant_id, channel)
        )
    )
    svc.coordinator.invalidate(Cache.CHANNELS, (tenant_id, channel))
    if not deleted:
        raise ApiError("not-found", f"the tenant has no {channel} set-up of its own")
    return web.Response(status=204)


class ChannelTestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: RecipientIn


TESTED = obj(
    channel=STRING,
    results={
        "type": "array",
        "items": obj(
            ("provider", "ok", "outcome", "error", "circuit"),
            provider=STRING,
            ok={"type": "boolean"},
            outcome=STRING,
            error={"type": ["string", "null"]},
            latency_ms={"type": "number"},
            circuit=STRING,
        ),
    },
)


@api.post("/v1/channels/{channel}/test", role=Role.owner, body=ChannelTestIn, response=TESTED, problems=("conflict",))
async def test_channel(request: web.Request) -> web.Response:
    """Send one test message through each of the channel's providers now, and tell each one's outcome."""
    svc, tenant_id, channel = services(request), principal(request).tenant_id, channel_of(request)
    to = (await read_model(request, ChannelTestIn)).to
    user = await users.get(svc.database, tenant_id, to.user_id) if to.user_id else None
    if to.user_id and user is None:
        raise invalid("to.user_id", "no such user")
    recipient = recipient_for(to.model_dump(exclude_none=True), to.user_id, user)
    lacking = trial.missing_contact(channel, recipient)
    if lacking is not None:
        raise invalid(f"to.{lacking}", f"a {channel} test needs this (given, or in the user's record)")
    try:
        handles = await svc.channels.for_tenant(tenant_id, channel)
    except (UnreadableSetup, ProviderConfigError) as exc:
        raise ApiError("conflict", f"the {channel} set-up cannot be used: {exc}") from None
    if not handles:
        raise ApiError("conflict", f"no provider is set up for the {channel} channel")
    results = await trial.send_test(tenant_id, channel, recipient, handles)
    return json_response({"channel": channel, "results": results})


@api.post(
    "/v1/receipts/{type}/{delivery_id}",
    role=PUBLIC,
    access="the provider's signature",
    status=204,
    content=None,
    problems=("forbidden", "bad-request"),
)
async def receipt(request: web.Request) -> web.Response:
    """Take a provider's status callback; its signature is checked with the tenant's own settings.

    It must be about the message the provider accepted for this delivery, and it only moves
    the delivery forward (deliveries.apply_receipt); a late word is kept as an attempt event.
    """
    svc, type_name, delivery_id = services(request), request.match_info["type"], request.match_info["delivery_id"]
    row = await deliveries.receipt_target(svc.database, delivery_id)
    if row is None or type_name not in (row.provider or "").split("+"):
        raise ApiError("not-found", "no such delivery for this provider")
    try:
        handles = await svc.channels.for_tenant(row.tenant_id, row.channel)
    except (UnreadableSetup, ProviderConfigError):
        handles = []  # no settings to check a signature with
    handle = next((h for h in handles if h.name == type_name), None)
    if handle is None:
        raise ApiError("not-found", "the provider is no longer set up for this channel")
    where = {"delivery_id": delivery_id, "provider": type_name}
    try:
        result = await type(handle.provider).parse_receipt(public_request(request, svc), handle.entry.settings)
    except InvalidReceipt:
        log.warning("receipt refused: bad signature", extra=where)
        raise ApiError("forbidden", "the callback's signature does not verify") from None
    if result.provider_message_id is not None and result.provider_message_id != row.provider_message_id:
        # Signed by the tenant's account, but about another message (or one not yet recorded
        # as sent): applying it would move this delivery on someone else's news.
        log.warning("receipt refused: another message", extra=where)
        raise ApiError("forbidden", "the callback is about another message than this delivery's")
    status = RECEIPT_STATUSES.get(result.status)
    if status is not None:
        error, now = (None if result.error is None else clip(result.error)), svc.clock.now()
        reason = None if status == "delivered" else f"{result.status}: {error or 'reported by provider'}"

        def apply(tx: Tx) -> bool:
            moved = deliveries.apply_receipt(
                tx, delivery_id, status, reason, "receipt:" + result.status, error, type_name, now
            )
            if moved:
                status_events.delivery_changed(tx, row.tenant_id, delivery_id, status, now)
            return moved

        moved = await svc.database.write(apply)
        event = "delivery." + status if moved else "receipt.late"
        log.info(status, extra={"event": event, "tenant_id": row.tenant_id, **where})
    return web.Response(status=204)


def public_request(request: web.Request, svc: Services) -> web.Request:
    """Providers sign the public URL they called; behind a proxy ours differs, so rebuild it."""
    base = svc.config.server.public_url
    if not base:
        return request
    public = URL(base)
    return request.clone(scheme=public.scheme, host=public.raw_authority)
