"""Stored templates: immutable versions, one active, cached for rendering at send time."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from ..storage.database import Database
from ..timefmt import iso
from . import content, validation
from .content import ValidatedContent


@dataclass(frozen=True)
class Version:
    key: str
    version: int
    name: str | None
    content: dict[str, Any]
    variables: tuple[str, ...]
    created_at: float
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
        }


def _version(row: sqlite3.Row) -> Version:
    return Version(
        row["key"],
        row["version"],
        row["name"],
        json.loads(row["content"]),
        tuple(json.loads(row["variables"])),
        row["created_at"],
    )


async def _as_today(version: Version) -> Version:
    """A stored version read by today's engine, once per process: the variables it needs by
    today's rules (a release before counted ``user.x|default(..)`` as needing ``user``), or
    why it is refused; compiling it now also spares its first delivery the compile."""
    try:
        checked = await validation.validate_content_async(version.content)
    except content.TemplateValidationError as exc:
        return dataclasses.replace(version, refused=str(exc))
    return dataclasses.replace(version, variables=checked.variables)


class TemplateExists(ValueError):
    pass


class UnknownTemplate(LookupError):
    pass


def save_version(
    conn: sqlite3.Connection,
    tenant_id: str,
    key: str,
    name: str | None,
    body: ValidatedContent,
    now: float,
    create: bool,
) -> int:
    """Create the template (``create``) or add its next version, which becomes active."""
    row = conn.execute(
        "SELECT latest_version, name FROM templates WHERE tenant_id = ? AND key = ?", (tenant_id, key)
    ).fetchone()
    if create and row:
        raise TemplateExists(key)
    if not create and not row:
        raise UnknownTemplate(key)
    version = row["latest_version"] + 1 if row else 1
    name = name if name is not None else (row["name"] if row else None)
    conn.execute(
        "INSERT INTO template_versions (tenant_id, key, version, name, content, variables, created_at)"
        " VALUES (?,?,?,?,?,?,?)",
        (tenant_id, key, version, name, json.dumps(body.content), json.dumps(list(body.variables)), now),
    )
    conn.execute(
        "INSERT INTO templates (tenant_id, key, name, active_version, latest_version, created_at, updated_at)"
        " VALUES (?,?,?,?,?,?,?) ON CONFLICT (tenant_id, key) DO UPDATE SET name = excluded.name,"
        " active_version = excluded.active_version, latest_version = excluded.latest_version,"
        " updated_at = excluded.updated_at",
        (tenant_id, key, name, version, version, now, now),
    )
    return version


def activate(conn: sqlite3.Connection, tenant_id: str, key: str, version: int, now: float) -> bool:
    if not conn.execute(
        "SELECT 1 FROM template_versions WHERE tenant_id = ? AND key = ? AND version = ?", (tenant_id, key, version)
    ).fetchone():
        return False
    conn.execute(
        "UPDATE templates SET active_version = ?, updated_at = ? WHERE tenant_id = ? AND key = ?",
        (version, now, tenant_id, key),
    )
    return True


def delete(conn: sqlite3.Connection, tenant_id: str, key: str) -> bool:
    """The template and all its versions; deliveries still waiting for it fail with a reason."""
    conn.execute("DELETE FROM template_versions WHERE tenant_id = ? AND key = ?", (tenant_id, key))
    return conn.execute("DELETE FROM templates WHERE tenant_id = ? AND key = ?", (tenant_id, key)).rowcount > 0


class TemplateStore:
    """Reads templates; versions are immutable, so a version once read is cached for good."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self._versions: dict[tuple[str, str, int], Version] = {}

    async def summary(self, tenant_id: str, key: str) -> sqlite3.Row | None:
        return await self.database.fetchone("SELECT * FROM templates WHERE tenant_id = ? AND key = ?", (tenant_id, key))

    async def version(self, tenant_id: str, key: str, version: int | None = None) -> Version:
        """A version, or the active one; raises UnknownTemplate."""
        if version is None:
            row = await self.summary(tenant_id, key)
            if row is None:
                raise UnknownTemplate(key)
            version = int(row["active_version"])
        cached = self._versions.get((tenant_id, key, version))
        if cached:
            return cached
        row = await self.database.fetchone(
            "SELECT * FROM template_versions WHERE tenant_id = ? AND key = ? AND version = ?",
            (tenant_id, key, version),
        )
        if row is None:
            raise UnknownTemplate(f"{key} v{version}")
        found = self._versions[(tenant_id, key, version)] = await _as_today(_version(row))
        return found

    def forget(self, tenant_id: str, key: str) -> None:
        """A deleted template's key may be created again, with versions numbered from 1."""
        for cached in [k for k in self._versions if k[:2] == (tenant_id, key)]:
            del self._versions[cached]

    async def versions(self, tenant_id: str, key: str) -> list[Version]:
        rows = await self.database.fetchall(
            "SELECT version FROM template_versions WHERE tenant_id = ? AND key = ? ORDER BY version", (tenant_id, key)
        )
        return [await self.version(tenant_id, key, r["version"]) for r in rows]
