"""Fewer, better notifications: digest, throttle, dedupe, replace_key and fallback.

Each is a publish option (a template's or category's default, the publish's own winning):
their shapes and checks are here, what they decide is in gating.py. A request without
options costs the publish path one ``is None`` test.

Keys are plain strings, compared as given: they are not rendered as templates.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..errors import invalid

Channel = Literal["email", "sms", "push", "inapp", "webhook"]
# A key is any text a tenant chooses to group events by; 200 like every other id.
Key = Annotated[str, Field(min_length=1, max_length=200, description="A plain string, compared as given")]
# Windows and waits up to 30 days: longer ones would keep counters and digests around for
# no purpose a notification has.
MAX_WINDOW_SECONDS = 30 * 24 * 3600
Seconds = Annotated[int, Field(ge=1, le=MAX_WINDOW_SECONDS)]
# The most events one digest collects (and one template renders); a window that reaches it
# is sent at once, like one that reaches its max_events.
MAX_DIGEST_EVENTS = 10_000
# Channels whose delivery a fallback watches: the ones a person can read (or receive) late.
WATCHED = ("inapp", "push")
# A digest sees its events' data under this name.
EVENTS_VARIABLE = "events"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Digest(_Strict):
    key: Key
    window_seconds: Seconds
    max_events: Annotated[int, Field(ge=2, le=MAX_DIGEST_EVENTS)] | None = None


class Throttle(_Strict):
    key: Key
    limit: Annotated[int, Field(ge=1, le=1_000_000)]
    window_seconds: Seconds


class Dedupe(_Strict):
    key: Key
    window_seconds: Seconds


class Fallback(_Strict):
    after_seconds: Seconds
    unless: Literal["read", "delivered"] = "read"
    channels: Annotated[list[Channel], Field(min_length=1, json_schema_extra={"uniqueItems": True})]

    @field_validator("channels")
    @classmethod
    def _unique(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("channels repeat")
        return v


class SendOptions(_Strict):
    """The options, as a publish, a template or a category gives them."""

    digest: Digest | None = None
    throttle: Throttle | None = None
    dedupe: Dedupe | None = None
    replace_key: Key | None = None
    fallback: Fallback | None = None


NAMES = tuple(SendOptions.model_fields)


def parsed(stored: dict[str, Any] | None) -> SendOptions | None:
    """Options a category or template version keeps (validated when they were saved)."""
    return SendOptions.model_validate(stored) if stored else None


def merged(*layers: SendOptions | None) -> SendOptions | None:
    """The options in force: each given option of a later layer wins over an earlier one
    (category < template < publish); None when no layer gives any."""
    found: dict[str, Any] = {}
    for layer in layers:
        if layer is not None:
            found.update({name: getattr(layer, name) for name in NAMES if getattr(layer, name) is not None})
    return SendOptions(**found) if found else None


def check(options: SendOptions, channels: list[str], available: list[str], scheduled: bool) -> None:
    """What the options ask of the notification's channels and timing; a 422 naming the field."""
    if options.digest is not None:
        if scheduled:
            raise invalid("digest", "a digest sends when its window closes: leave out send_at and send_at_local")
        if options.fallback is not None:
            raise invalid("fallback", "a digest cannot fall back; give digest or fallback")
    fallback = options.fallback
    if fallback is None:
        return
    watched = [c for c in channels if c in WATCHED]
    if fallback.unless == "read" and "inapp" not in channels:
        raise invalid("fallback.unless", "only in-app notifications are read: send on inapp, or use 'delivered'")
    if not watched:
        raise invalid("fallback", "a fallback watches an inapp or push delivery: send on one of them")
    for i, channel in enumerate(fallback.channels):
        if channel in channels:
            raise invalid(f"fallback.channels.{i}", f"{channel} is already a channel of this notification")
        if channel not in available:
            raise invalid(f"fallback.channels.{i}", f"the template or content has no {channel} part")


def stored(options: SendOptions, channels: list[str]) -> str:
    """The options as the notification keeps them (and the deliverer reads them)."""
    kept = options.model_dump(exclude_none=True)
    if options.fallback is not None:
        kept["fallback"]["watch"] = [c for c in channels if c in WATCHED]
    return json.dumps(kept)
