"""The content model of a template version: its shape per channel, its locale variants, the
errors a template can give, and the variables it needs.

A template version's content, as stored (``ValidatedContent.content``)::

    {"channels": {                      # the default variant: at least one channel
        "email":   {"subject": T, "text": T?, "html": T?},   # text or html (or both)
        "sms":     {"body": T},
        "push":    {"title": T?, "body": T?, "data": {str: T}?},      # title or body
        "inapp":   {"title": T?, "body": T?, "action_url": T?, "data": {str: T}?},
        "webhook": {"body": <any JSON value; every string in it is a T>}},
     "locales": {                       # optional variants, keyed by lower-case BCP 47 tag
        "de":    {<channel>: {...}},    # same channel shapes, only channels of the default
        "de-at": {...}}}

where ``T`` is Jinja2 source: ``Hello {{ name }}``, ``{{ user.data.plan }}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from ..finite import non_finite

# The names the core puts into every render context itself, so a publish need not send them.
PROVIDED_VARIABLES = frozenset({"recipient", "unsubscribe_url", "preferences_url"})
# Provided too, but only for a recipient addressed by user_id: the user's stored record.
USER_VARIABLE = "user"

# -- Errors


@dataclass(frozen=True)
class FieldError:
    """One problem, at a dotted path into the template body (``channels.email.subject``)."""

    field: str
    message: str


class TemplateError(Exception):
    """Base of every template problem; ``str()`` is fit for an API error or a delivery reason."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field

    @property
    def errors(self) -> list[FieldError]:
        """The problem as problem+json ``errors[]`` entries."""
        return [FieldError(self.field or "template", self.message)]

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class TemplateValidationError(TemplateError):
    """The content cannot be saved: wrong shape, or a template that does not compile."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self._errors = errors

    @property
    def errors(self) -> list[FieldError]:
        return self._errors


class TemplateRenderError(TemplateError):
    """Rendering failed; at send time the delivery fails with ``str(error)`` as its reason."""


class MissingVariables(TemplateRenderError):
    """Variables the template needs are absent from the data."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted(names)
        super().__init__("missing template variables: " + ", ".join(self.names))

    @property
    def errors(self) -> list[FieldError]:
        return [FieldError(f"data.{n}", _MISSING.get(n, "the template needs this variable")) for n in self.names]


_MISSING = {USER_VARIABLE: "the template reads user: address every recipient by user_id, or give data.user"}


class TemplateSecurityError(TemplateRenderError):
    """The template tried something the sandbox refuses (private attributes, unlisted calls)."""


class TemplateLimitError(TemplateRenderError):
    """The template exceeded a size or work limit."""


# -- Content shape


class _Fields(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _require_title_or_body(title: str | None, body: str | None) -> None:
    if title is None and body is None:
        raise PydanticCustomError("missing_text", "needs a title or a body")


class EmailContent(_Fields):
    """An email; ``text`` is derived from ``html`` when absent."""

    subject: str
    text: str | None = None
    html: str | None = None

    @model_validator(mode="after")
    def _has_body(self) -> Self:
        if self.text is None and self.html is None:
            raise PydanticCustomError("missing_body", "needs text or html")
        return self


class SmsContent(_Fields):
    """A text message."""

    body: str


class PushContent(_Fields):
    """A push notification; ``data`` reaches the app, not the user."""

    title: str | None = None
    body: str | None = None
    data: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_text(self) -> Self:
        _require_title_or_body(self.title, self.body)
        return self


class InappContent(_Fields):
    """An inbox item."""

    title: str | None = None
    body: str | None = None
    action_url: str | None = None
    data: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _has_text(self) -> Self:
        _require_title_or_body(self.title, self.body)
        return self


class WebhookContent(_Fields):
    """A webhook call; every string anywhere in ``body`` is a template."""

    body: JsonValue

    @field_validator("body")
    @classmethod
    def _finite(cls, body: JsonValue) -> JsonValue:
        # Refused here, not when the call's body is encoded: that is too late to tell anyone.
        where = non_finite(body)
        if where is not None:
            raise PydanticCustomError("finite_number", "{where} is not a finite number", {"where": where})
        return body


class ChannelSet(_Fields):
    """Content per channel; an absent channel is not sent (or, in a locale, falls back)."""

    email: EmailContent | None = None
    sms: SmsContent | None = None
    push: PushContent | None = None
    inapp: InappContent | None = None
    webhook: WebhookContent | None = None

    def dump(self) -> dict[str, Any]:
        """The channels given, each with the fields given (one serializer call: a publish's
        inline content is dumped on every request). A channel given as null is not sent."""
        return {name: fields for name, fields in self.model_dump(exclude_unset=True).items() if fields is not None}


_CHANNEL_MODELS: dict[str, type[_Fields]] = {
    "email": EmailContent,
    "sms": SmsContent,
    "push": PushContent,
    "inapp": InappContent,
    "webhook": WebhookContent,
}


class TemplateContent(_Fields):
    """A template version's body as the API receives it."""

    channels: ChannelSet
    locales: dict[str, ChannelSet] = Field(default_factory=dict)

    @field_validator("channels")
    @classmethod
    def _not_empty(cls, channels: ChannelSet) -> ChannelSet:
        if not channels.dump():
            raise PydanticCustomError("no_channels", "needs at least one channel")
        return channels


# -- Validation and variables


@dataclass(frozen=True)
class ValidatedContent:
    """A checked version: store ``content`` and ``variables`` with it."""

    content: dict[str, Any]
    variables: tuple[str, ...]

    @property
    def channels(self) -> tuple[str, ...]:
        return tuple(self.content["channels"])


_LOCALE_TAG = re.compile(r"[a-z]{2,8}(-[a-z0-9]{1,8})*")


def _normalize_locale(tag: str) -> str:
    # Accept what clients actually send: "de_AT", "de-AT", even POSIX "de_AT.UTF-8@euro".
    return tag.split(".")[0].split("@")[0].strip().replace("_", "-").lower()


def _leaves(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _leaves(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}.{index}")


def _is_html(channel: str, name: str) -> bool:
    return (channel, name) == ("email", "html")


def _channel_leaves(base: str, channel: str, fields: Mapping[str, Any]) -> Iterator[tuple[str, str, bool]]:
    """(path, template source, is email html) for every template in one channel's fields."""
    for name, value in fields.items():
        for path, source in _leaves(value, f"{base}.{channel}.{name}"):
            yield path, source, _is_html(channel, name)


def _template_leaves(content: Mapping[str, Any]) -> Iterator[tuple[str, str, bool]]:
    variants = [("channels", content["channels"])]
    variants += [(f"locales.{tag}", chans) for tag, chans in content.get("locales", {}).items()]
    for base, channels in variants:
        for channel, fields in channels.items():
            yield from _channel_leaves(base, channel, fields)


def provided_variables(user: bool) -> frozenset[str]:
    """The names the core adds to the data: ``user`` only when every recipient has one."""
    return PROVIDED_VARIABLES | {USER_VARIABLE} if user else PROVIDED_VARIABLES


def missing_variables(needed: Iterable[str], data: Mapping[str, Any], provided: Iterable[str]) -> list[str]:
    """The needed variables neither in ``data`` nor among the names the core provides.

    The one decision of what a render lacks: publish and preview ask it with the client's data
    and :func:`provided_variables`, render with the whole context it was given (which holds
    exactly those names), and all take ``needed`` from the same analysis of the source.
    """
    supplied = set(data) | set(provided)
    return sorted(set(needed) - supplied)


def is_literal(source: str) -> bool:
    """Text without Jinja delimiters renders as itself. One-off inline messages ("your code
    is 123456") are mostly literal and each unique, so compiling them (~0.5 ms, uncacheable)
    would dominate publishing; they skip Jinja altogether."""
    return "{{" not in source and "{%" not in source and "{#" not in source
