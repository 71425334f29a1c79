"""Rendering a delivery at send time, from inline content or the template version it named."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from ..message import STATUS_CHANNEL, Recipient
from ..outcomes import PermanentFailure
from ..storage.users import User
from ..templates import render
from ..templates.content import USER_VARIABLE, TemplateError
from ..templates.store import TemplateStore, UnknownTemplate
from .queue import Job


def values(data: dict[str, Any], recipient: Recipient, user: User | None, links: dict[str, str]) -> dict[str, Any]:
    """What a template sees: the publish data, plus the names of
    :func:`templates.content.provided_variables` — ``user`` only when the recipient has one."""
    seen: dict[str, Any] = {**data, **links}
    # Every key present (None prints nothing): `recipient.phone` never fails an email.
    seen["recipient"] = {k: v for k, v in dataclasses.asdict(recipient).items() if k != "devices"}
    if user is not None:
        seen[USER_VARIABLE] = {**seen["recipient"], "data": user.data or {}}
    return seen


class Renderer:
    def __init__(self, templates: TemplateStore) -> None:
        self.templates = templates

    async def content_of(self, job: Job) -> dict[str, Any]:
        if job.template is None:
            return job.content or {}
        try:
            return (await self.templates.version(job.tenant_id, job.template, job.template_version)).content
        except UnknownTemplate:
            raise PermanentFailure(f"template {job.template!r} v{job.template_version} was deleted") from None

    async def render(self, job: Job, recipient: Recipient, user: User | None, links: dict[str, str]) -> dict[str, Any]:
        content = await self.content_of(job)
        if job.channel == STATUS_CHANNEL:  # an event AlertFlow built, not a template: sent as it is
            return content
        try:
            literal = render.render_literal(content, job.channel, recipient.locale)
            if literal is not None:
                return literal
            seen = values(job.data, recipient, user, links)
            # A hostile template may run to its step budget (~0.2 s): keep that off the event loop.
            return await asyncio.to_thread(render.render, content, job.channel, seen, recipient.locale)
        except TemplateError as exc:
            raise PermanentFailure(f"render: {exc}") from None
