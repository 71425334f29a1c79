"""Publishing: validate a request, decide each delivery's fate, store it all in one write.

The 202 goes out only after the write's group commit, so an acknowledged notification is
on disk. Everything a request creates is written by one writer function: a request that
fails validation, or whose write fails, leaves nothing behind.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator
from pydantic_core import to_json

from ..delivery import queue, status_events
from ..errors import invalid
from ..finite import check_finite
from ..ids import new_ids
from ..naming import MAX_VERSION, ClientId
from ..recipients.categories import Category
from ..recipients.preferences import Preferences, quiet_until, suppression
from ..storage import notifications
from ..storage.database import Tx
from ..templates.content import ChannelSet
from ..timefmt import OUT_OF_RANGE, YEARS
from .idempotency import IdempotencyKey, once
from .options import Dedupe, Digest, Fallback, Key, SendOptions, Throttle

Channel = Literal["email", "sms", "push", "inapp", "webhook"]
Priority = Literal["high", "medium", "low"]
MAX_RECIPIENTS = 1000
_PHONE = re.compile(r"^\+[1-9]\d{6,14}$")  # E.164
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# The recipient field each channel needs (from the request, else the user's record).
_CONTACT_FIELD = {"email": "email", "sms": "phone", "push": "push_token", "inapp": "user_id"}
TO_SHAPES = (
    'one recipient, such as {"user_id": "u1"} or {"email": "ann@example.com", "phone": "+15550100"}, or a list of them'
)
TO_DESCRIPTION = (
    f"The recipients: {TO_SHAPES}. A user_id addresses a stored user (PUT /v1/users/{{user_id}});"
    " email, phone and push_token address someone directly. Each recipient gets one notification,"
    " with a delivery per channel. The webhook channel calls the tenant's configured webhook URL"
    " once per recipient, with that recipient in the payload: to says whom the call is about,"
    " not where it goes."
)


# Template data and user data: any JSON object, its numbers finite.
JsonData = Annotated[dict[str, Any], AfterValidator(check_finite)]


def check_email(v: str | None) -> str | None:
    if v is not None and not _EMAIL.match(v):
        raise ValueError("not an email address")
    return v


def check_phone(v: str | None) -> str | None:
    if v is not None and not _PHONE.match(v):
        raise ValueError("not an E.164 phone number (+ and 7 to 15 digits)")
    return v


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Contact(_Strict):
    """Addresses, checked the same way wherever they are given (a publish, a user record)."""

    # The patterns are documented in the schema; the validators say what is wrong in words.
    email: Annotated[str, WithJsonSchema({"type": "string", "pattern": _EMAIL.pattern})] | None = None
    phone: Annotated[str, WithJsonSchema({"type": "string", "pattern": _PHONE.pattern})] | None = None

    @field_validator("email")
    @classmethod
    def _email(cls, v: str | None) -> str | None:
        return check_email(v)

    @field_validator("phone")
    @classmethod
    def _phone(cls, v: str | None) -> str | None:
        return check_phone(v)


class RecipientIn(Contact):
    # What _addressed checks, said in the document too.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"anyOf": [{"required": [f]} for f in ("user_id", "email", "phone", "push_token")]},
    )
    user_id: ClientId | None = None
    push_token: Annotated[str, Field(min_length=1, max_length=4096)] | None = None
    name: str | None = None

    @model_validator(mode="after")
    def _addressed(self) -> RecipientIn:
        if not (self.user_id or self.email or self.phone or self.push_token):
            raise ValueError("give a user_id or at least one of email, phone, push_token")
        return self


class PublishRequest(_Strict):
    # What _one_source checks, said in the document as well, for clients that read it.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "allOf": [
                {"oneOf": [{"required": ["to"]}, {"required": ["topic"]}]},
                {"oneOf": [{"required": ["template"]}, {"required": ["content"]}]},
            ]
        },
    )
    to: Annotated[list[RecipientIn], Field(min_length=1, max_length=MAX_RECIPIENTS)] | None = Field(
        None, description=TO_DESCRIPTION
    )
    topic: ClientId | None = None
    template: ClientId | None = None
    template_version: int | None = Field(None, ge=1, le=MAX_VERSION)
    # A factory, not ``= {}``: a mutable default is deep-copied on every validation.
    data: JsonData = Field(default_factory=dict)
    content: ChannelSet | None = None
    channels: Annotated[list[Channel], Field(min_length=1, json_schema_extra={"uniqueItems": True})] | None = None
    category: ClientId = "default"
    priority: Priority | None = None
    send_at: datetime | None = None
    send_at_local: datetime | None = None
    # Fewer, better notifications (intake/options.py); a template's or category's defaults
    # fill in what the publish leaves out.
    digest: Digest | None = None
    throttle: Throttle | None = None
    dedupe: Dedupe | None = None
    replace_key: Key | None = None
    fallback: Fallback | None = None

    def send_options(self) -> SendOptions | None:
        """The options this request gives itself (None when it gives none)."""
        if not (self.digest or self.throttle or self.dedupe or self.replace_key or self.fallback):
            return None
        return SendOptions(
            digest=self.digest,
            throttle=self.throttle,
            dedupe=self.dedupe,
            replace_key=self.replace_key,
            fallback=self.fallback,
        )

    @field_validator("to", mode="before")
    @classmethod
    def _listed(cls, v: Any) -> Any:
        # One recipient may be given bare; errors then name it to.0 like a list's first.
        if isinstance(v, dict):
            return [v]
        if v is not None and not isinstance(v, list):
            raise ValueError(f"expected {TO_SHAPES}")
        return v

    @field_validator("channels")
    @classmethod
    def _unique(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and len(set(v)) != len(v):
            raise ValueError("channels repeat")
        return v

    @field_validator("send_at")
    @classmethod
    def _aware(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.tzinfo is None:
            raise ValueError("give an RFC 3339 time with an offset (or use send_at_local)")
        return v

    @field_validator("send_at", "send_at_local")
    @classmethod
    def _in_range(cls, v: datetime | None) -> datetime | None:
        if v is not None and not YEARS[0] <= v.year <= YEARS[1]:
            raise ValueError(OUT_OF_RANGE)
        return v

    @model_validator(mode="after")
    def _one_source(self) -> PublishRequest:
        if (self.to is None) == (self.topic is None):
            raise ValueError("give either to or topic")
        if (self.template is None) == (self.content is None):
            raise ValueError("give either template or content")
        if self.template_version is not None and self.template is None:
            raise ValueError("template_version needs template")
        if self.send_at is not None and self.send_at_local is not None:
            raise ValueError("give send_at or send_at_local, not both")
        return self


class Gate(Protocol):
    """The decisions a plan leaves to the writer (intake/gating.py's ``Gate`` makes them)."""

    def apply(self, tx: Tx, plan: Plan, now: float) -> None: ...


@dataclass
class Plan:
    """Everything one publish will write, decided before the write starts; the rows are
    tuples in storage/notifications.py's column order."""

    notifications: list[tuple[Any, ...]] = field(default_factory=list)
    deliveries: list[tuple[Any, ...]] = field(default_factory=list)
    jobs: list[tuple[Any, ...]] = field(default_factory=list)
    response: list[dict[str, Any]] = field(default_factory=list)
    ready_channels: set[str] = field(default_factory=set)
    earliest_scheduled: float | None = None
    # (status, tenant, notification, delivery, channel, reason) for the state-change log
    events: list[tuple[str, str, str, str, str, str | None]] = field(default_factory=list)
    # Digest, throttle and dedupe decisions the writer makes (intake/gating.py); None without them.
    gate: Gate | None = None


def contact_reason(channel: str, recipient: dict[str, Any], user: Mapping[str, Any] | None) -> str | None:
    """Why ``channel`` cannot reach this recipient, or None when it can."""
    if recipient.get("user_id") and user is None:
        return "unknown_user"
    needs = _CONTACT_FIELD.get(channel)
    if needs is None or recipient.get(needs):
        return None
    if user is not None:
        # Only push parses the device lists: a bulk fan-out asks this of every recipient.
        if needs == "push_token":
            if json.loads(user["push_tokens"]) or json.loads(user["webpush"]):
                return None
        elif needs in ("email", "phone") and user[needs]:
            return None
    return f"no_contact:{needs}"


def contact_address(channel: str, recipient: Mapping[str, Any], user: Mapping[str, Any] | None) -> str | None:
    """The address a delivery on ``channel`` goes to: the request's, else the user's record."""
    needs = _CONTACT_FIELD.get(channel)
    if needs is None or needs in ("push_token", "user_id"):
        return None
    return recipient.get(needs) or (user[needs] if user is not None else None)


def listed_reason(
    suppressed: Mapping[tuple[str, str], str],
    channel: str,
    recipient: Mapping[str, Any],
    user: Mapping[str, Any] | None,
) -> str | None:
    """Why the delivery's address is on the suppression list, or None."""
    if not suppressed:  # the common case, made cheap for bulk
        return None
    address = contact_address(channel, recipient, user)
    return None if address is None else suppressed.get((channel, address))


@dataclass(frozen=True)
class Audience:
    """What a plan needs to know of the tenant and its recipients, looked up before the write."""

    tenant_id: str
    category: Category
    channels: list[str]
    users: dict[str, Any] = field(default_factory=dict)  # user rows by user_id
    preferences: dict[str, Preferences] = field(default_factory=dict)  # by user_id
    tenant_preferences: Preferences | None = None
    template_version: int | None = None
    content: dict[str, Any] | None = None  # validated inline content, rendered at send time
    # (channel, address as the delivery will use it) -> "suppression:<why>", for the
    # addresses on the tenant's suppression list (recipients/suppression_list.py)
    suppressed: dict[tuple[str, str], str] = field(default_factory=dict)
    options: str | None = None  # the send options in force, as stored (options.stored)
    send_options: SendOptions | None = None


def plan(
    req: PublishRequest, recipients: list[RecipientIn], audience: Audience, now: float, batch_id: str | None = None
) -> Plan:
    """Rows and response for a validated request (pure: no I/O); a bulk's chunk names its batch."""
    out = Plan()
    tenant_id, category = audience.tenant_id, audience.category
    priority = req.priority or category.priority
    # pydantic-core's encoder, a fifth of json.dumps's time: inline content is stored per publish.
    content = to_json(audience.content).decode() if audience.content is not None else None
    data = json.dumps(req.data) if req.data else "{}"
    notification_ids = iter(new_ids("ntf", len(recipients)))
    delivery_ids = iter(new_ids("dlv", len(recipients) * len(audience.channels)))
    local_time = req.send_at_local is not None  # then each user's timezone decides
    fixed_send_at = None if local_time else send_time(req, None)
    options = audience.options
    for recipient_in in recipients:
        recipient = recipient_in.model_dump(exclude_none=True)
        user_id = recipient.get("user_id")
        user = audience.users.get(user_id) if user_id else None
        prefs = audience.preferences.get(user_id) if user_id else None
        send_at = send_time(req, user) if local_time else fixed_send_at
        due = max(send_at or now, now)
        nid = next(notification_ids)
        out.notifications.append(
            (
                nid,
                tenant_id,
                user_id,
                category.key,
                priority,
                now,
                send_at,
                recipient_in.model_dump_json(exclude_none=True),
                content,
                req.template,
                audience.template_version,
                data,
                batch_id,
                options,
            )
        )
        statuses = []
        for channel in audience.channels:
            did = next(delivery_ids)
            reason = (
                contact_reason(channel, recipient, user)
                or listed_reason(audience.suppressed, channel, recipient, user)
                or suppression(category, channel, prefs, audience.tenant_preferences)
            )
            run_at = due
            if reason is None:
                quiet_end = quiet_until(
                    priority, due, prefs, audience.tenant_preferences, user["timezone"] if user is not None else None
                )
                if quiet_end is not None:
                    run_at, reason = quiet_end, "quiet_hours"
            status = "suppressed" if reason and reason != "quiet_hours" else "scheduled" if run_at > now else "queued"
            statuses.append(status)
            out.deliveries.append((did, nid, tenant_id, channel, status, reason, now, now, batch_id))
            out.events.append((status, tenant_id, nid, did, channel, reason))
            if status == "suppressed":
                continue
            scheduled = status == "scheduled"
            out.jobs.append(
                (
                    did,
                    tenant_id,
                    channel,
                    queue.PRIORITIES[priority],
                    queue.WAITING if scheduled else queue.READY,
                    run_at,
                )
            )
            if scheduled:
                out.earliest_scheduled = min(run_at, out.earliest_scheduled or run_at)
            else:
                out.ready_channels.add(channel)
        status = "queued" if "queued" in statuses else "scheduled" if "scheduled" in statuses else "suppressed"
        out.response.append({"id": nid, "recipient": recipient, "status": status})
    return out


def send_time(req: PublishRequest, user: Any) -> float | None:
    """``send_at``, or ``send_at_local`` read in the user's timezone (UTC when unknown)."""
    if req.send_at is not None:
        return req.send_at.timestamp()
    if req.send_at_local is None:
        return None
    local = req.send_at_local.replace(tzinfo=None)
    tz_name = user["timezone"] if user is not None and user["timezone"] else "UTC"
    try:
        zone = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return local.replace(tzinfo=zone).timestamp()


def store(
    tx: Tx, tenant_id: str, idempotency: IdempotencyKey | None, p: Plan, now: float
) -> tuple[dict[str, Any], bool]:
    """Write a plan (writer function). Returns (response, created); an idempotent replay
    returns the first response and creates nothing (see idempotency.once)."""
    return once(tx, tenant_id, idempotency, now, lambda tx: _create(tx, tenant_id, p, now))


def _create(tx: Tx, tenant_id: str, p: Plan, now: float) -> tuple[dict[str, Any], bool]:
    if p.gate is not None:
        p.gate.apply(tx, p, now)
    notifications.insert(tx, p.notifications, p.deliveries, p.jobs)
    suppressed = [e[3] for e in p.events if e[0] == "suppressed"]  # (status, tenant, notification, delivery, ...)
    if suppressed:
        status_events.deliveries_changed(tx, tenant_id, suppressed, "suppressed", now)
    return {"notifications": p.response}, True


def choose_channels(req: PublishRequest, available: list[str]) -> list[str]:
    """The request's channels, each of which the content (or template) must define."""
    if req.channels is None:
        return available
    for channel in req.channels:
        if channel not in available:
            source = "template" if req.template else "content"
            raise invalid(
                f"{source}.{channel}" if source == "content" else "channels",
                f"channel {channel!r} is requested but the {source} has no {channel} part",
            )
    return list(req.channels)
