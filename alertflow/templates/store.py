"""Stored templates: immutable versions, one active, cached for rendering at send time."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ..cache import MAX_ENTRIES, Lru
from ..storage import template_versions
from ..storage.database import Database, Tx
from ..timefmt import iso
from . import content, validation
from .content import ValidatedContent


@dataclass(frozen=True)
class Version(template_versions.StoredVersion):
    """A stored version as today's engine reads it (see ``_as_today``)."""

    # Why today's engine will not send this version (saved under older, looser limits).
    refused: str | None = None

    @property
    def channels(self) -> list[str]:
        return list(self.content["channels"])

    def shape(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "version": self.version,
            "name": self.name,
            "channels": self.content["channels"],
            "locales": self.content["locales"],
            "variables": list(self.variables),
            "created_at": iso(self.created_at),
            **({"options": self.options} if self.options else {}),
        }


async def _as_today(stored: template_versions.StoredVersion) -> Version:
    """A stored version read by today's engine, once per process: the variables it needs by
    today's rules (a release before counted ``user.x|default(..)`` as needing ``user``), or
    why it is refused; compiling it now also spares its first delivery the compile."""
    fields = {f.name: getattr(stored, f.name) for f in dataclasses.fields(stored)}
    try:
        checked = await validation.validate_content_async(stored.content)
    except content.TemplateValidationError as exc:
        return Version(**fields, refused=str(exc))
    return Version(**{**fields, "variables": checked.variables})


class TemplateExists(ValueError):
    pass


class UnknownTemplate(LookupError):
    pass


def save_version(
    tx: Tx,
    tenant_id: str,
    key: str,
    name: str | None,
    body: ValidatedContent,
    now: float,
    create: bool,
    options: dict[str, Any] | None = None,
) -> int:
    """Create the template (``create``) or add its next version, which becomes active."""
    head = template_versions.head_for_write(tx, tenant_id, key)
    if create and head:
        raise TemplateExists(key)
    if not create and not head:
        raise UnknownTemplate(key)
    version = head.latest_version + 1 if head else 1
    name = name if name is not None else (head.name if head else None)
    template_versions.add_version(tx, tenant_id, key, version, name, body.content, body.variables, now, options)
    return version


class TemplateStore:
    """Reads templates; versions are immutable, so a version once read is cached until
    ``max_versions`` more recently read push it out."""

    def __init__(self, database: Database, max_versions: int = MAX_ENTRIES) -> None:
        self.database = database
        self._versions: Lru[tuple[str, str, int], Version] = Lru(max_versions)

    async def summary(self, tenant_id: str, key: str) -> template_versions.Head | None:
        return await template_versions.head(self.database, tenant_id, key)

    async def version(self, tenant_id: str, key: str, version: int | None = None) -> Version:
        """A version, or the active one; raises UnknownTemplate."""
        if version is None:
            head = await self.summary(tenant_id, key)
            if head is None:
                raise UnknownTemplate(key)
            version = head.active_version
        cached = self._versions.get((tenant_id, key, version))
        if cached:
            return cached
        stored = await template_versions.version(self.database, tenant_id, key, version)
        if stored is None:
            raise UnknownTemplate(f"{key} v{version}")
        found = await _as_today(stored)
        self._versions.put((tenant_id, key, version), found)
        return found

    def forget(self, tenant_id: str, key: str) -> None:
        """A deleted template's key may be created again, with versions numbered from 1."""
        self._versions.retain(lambda cached, _: cached[:2] != (tenant_id, key))

    def forget_all(self) -> None:
        """Any template may have been deleted unheard (see Coordinator.on_resync)."""
        self._versions.clear()

    async def versions(self, tenant_id: str, key: str) -> list[Version]:
        numbers = await template_versions.version_numbers(self.database, tenant_id, key)
        return [await self.version(tenant_id, key, n) for n in numbers]
