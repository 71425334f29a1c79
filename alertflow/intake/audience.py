"""What every way in (publish, bulk, cron schedules) shares around a plan: looking up its
audience before it, announcing the new deliveries after the commit."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import invalid, invalid_many
from ..recipients import categories, preferences, suppression_list
from ..storage import topic_members
from ..storage import users as stored_users
from ..storage.database import Database
from ..templates import validation
from ..templates.content import (
    USER_VARIABLE,
    MissingVariables,
    TemplateValidationError,
    missing_variables,
    provided_variables,
)
from ..templates.store import UnknownTemplate
from . import options as send_options
from .publish import MAX_RECIPIENTS, Audience, Plan, PublishRequest, RecipientIn, choose_channels, contact_address

if TYPE_CHECKING:
    from ..cache import TtlCache
    from ..clock import Clock
    from ..coordination import Coordinator
    from ..storage.database import Database
    from ..templates.store import TemplateStore

log = logging.getLogger("alertflow.publish")


class Intake(Protocol):
    """What the ways in use of the running server. ``api.context.Services`` provides it; it is
    declared here, not imported from there, so intake depends on nothing of the HTTP edge."""

    database: Database
    clock: Clock
    templates: TemplateStore
    # Tenant settings every publish reads (categories.cached, preferences.cached_defaults).
    settings: TtlCache
    # Big batches' delivery counts (batches.view).
    batch_counts: TtlCache
    # Wakes the worker pools after a commit.
    coordinator: Coordinator


async def recipients_of(db: Database, tenant_id: str, req: PublishRequest) -> list[RecipientIn]:
    if req.to is not None:
        return req.to
    assert req.topic is not None
    members = await topic_members.members(db, tenant_id, req.topic)
    if not members:
        raise invalid("topic", f"topic {req.topic!r} has no subscribers")
    if len(members) > MAX_RECIPIENTS:
        raise invalid("topic", f"topic {req.topic!r} has {len(members)} subscribers; use /v1/notifications/bulk")
    return [RecipientIn(user_id=m) for m in members]


async def audience_for(
    svc: Intake,
    tenant_id: str,
    req: PublishRequest,
    to: list[RecipientIn],
    users: dict[str, Any] | None = None,
    with_options: bool = False,
) -> Audience:
    """Category, content, channels, users and preferences: everything a plan looks up.
    ``users``: the recipients' users, when they were read with the recipients (a fan-out step).
    ``with_options``: the send options in force too (a publish's; a bulk takes none)."""
    db = svc.database
    known = await categories.cached(svc.settings, db, tenant_id)
    category = known.get(req.category)
    if category is None:
        raise invalid("category", f"unknown category {req.category!r}")
    content, version, needed, available, defaults = await source_of(svc, tenant_id, req)
    channels = choose_channels(req, available)
    in_force = None
    if with_options:
        in_force = send_options.merged(
            send_options.parsed(category.options), send_options.parsed(defaults), req.send_options()
        )
    if in_force is not None:
        send_options.check(in_force, channels, available, req.send_at is not None or req.send_at_local is not None)
    with_user = USER_VARIABLE in needed and all_addressed_by_user_id(req)
    provided = provided_variables(with_user)
    if in_force is not None and in_force.digest is not None:
        provided |= {send_options.EVENTS_VARIABLE}
    missing = missing_variables(needed, req.data, provided)
    if missing:
        errors = MissingVariables(missing).errors
        raise invalid_many([{"field": e.field, "message": e.message} for e in errors])
    if users is None:
        users = await stored_users.known(db, tenant_id, {r.user_id for r in to if r.user_id})
    # An unknown user's preferences never matter: every delivery to them is suppressed.
    user_prefs = {user_id: prefs for user_id, u in users.items() if (prefs := preferences.parse(u["preferences"]))}
    return Audience(
        tenant_id,
        category,
        channels,
        users,
        user_prefs,
        await preferences.cached_defaults(svc.settings, db, tenant_id),
        template_version=version,
        content=content,
        # Lazy: the addresses are gathered only when the tenant's list is not empty.
        suppressed=await suppression_list.listed(svc.settings, db, tenant_id, _addresses(to, channels, users)),
        options=send_options.stored(in_force, channels) if in_force is not None else None,
        send_options=in_force,
    )


def _addresses(to: list[RecipientIn], channels: list[str], users: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(channel, address) of every delivery a plan may make on a channel with a suppression list."""
    for r in to:
        recipient = r.model_dump(include={"email", "phone"}, exclude_none=True)
        user = users.get(r.user_id) if r.user_id else None
        for channel in channels:
            address = contact_address(channel, recipient, user)
            if address:
                yield channel, address


def all_addressed_by_user_id(req: PublishRequest) -> bool:
    """Whether every recipient has a user record to render ``user`` from (a topic's do; a
    bulk's ``to`` is still raw JSON here)."""
    if req.to is None:
        return True
    return all(r.user_id if isinstance(r, RecipientIn) else isinstance(r, dict) and r.get("user_id") for r in req.to)


async def source_of(
    svc: Intake, tenant_id: str, req: PublishRequest
) -> tuple[dict[str, Any] | None, int | None, tuple[str, ...], list[str], dict[str, Any] | None]:
    """(inline content, template version, variables needed, channels available, the
    version's default send options)."""
    if req.content is not None:
        channels = req.content.dump()
        if not channels:
            raise invalid("content", "needs at least one channel")
        try:
            checked = await validation.validate_inline_async(channels)
        except TemplateValidationError as exc:
            raise invalid_many(
                [{"field": "content" + e.field.removeprefix("channels"), "message": e.message} for e in exc.errors]
            ) from None
        return checked.content, None, checked.variables, list(checked.channels), None
    assert req.template is not None
    try:
        version = await svc.templates.version(tenant_id, req.template, req.template_version)
    except UnknownTemplate:
        field = "template_version" if req.template_version is not None else "template"
        raise invalid(
            field,
            f"no template {req.template!r}" + (f" version {req.template_version}" if req.template_version else ""),
        ) from None
    if version.refused:
        raise invalid("template", f"version {version.version} cannot be sent ({version.refused}); save a new one")
    return None, version.version, version.variables, version.channels, version.options


def announce(svc: Intake, p: Plan) -> None:
    """After the commit: wake the pools, tell the timer, log each new delivery's state."""
    svc.coordinator.jobs_ready(p.ready_channels)
    if p.earliest_scheduled is not None:
        svc.coordinator.jobs_waiting()
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
