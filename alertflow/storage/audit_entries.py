"""The audit log: one row per audited change, appended in the change's own transaction.

Nothing here updates an entry; rows go only by retention (:func:`purge`) or with their tenant."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .database import Database, Row, Tx


@dataclass(frozen=True)
class Actor:
    """Who acted: ``kind`` is key, member, operator or anonymous (a failed sign-in's caller);
    ``ref`` is the key's or member's id, named in the entry by its prefix or email."""

    kind: str
    ref: str | None = None
    name: str | None = None  # used as is when there is no ``ref`` to name it by


@dataclass(frozen=True)
class Entry:
    seq: int
    id: str
    at: float
    actor_type: str
    actor: str | None
    client: str | None
    action: str
    resource_type: str
    resource_id: str | None
    before: Any
    after: Any


_COLUMNS = (
    "SELECT seq, id, at, actor_type, actor, client, action, resource_type, resource_id, before, after"
    " FROM audit_entries"
)
# The actor's name as it is when the change commits: a later revoke or removal keeps it.
_NAME = (
    "CASE ? WHEN 'key' THEN (SELECT prefix FROM api_keys WHERE id = ?)"
    " WHEN 'anonymous' THEN ? ELSE (SELECT email FROM members WHERE id = ?) END"
)


def _row(r: Row) -> Entry:
    before, after = r["before"], r["after"]
    return Entry(
        r["seq"],
        r["id"],
        r["at"],
        r["actor_type"],
        r["actor"],
        r["client"],
        r["action"],
        r["resource_type"],
        r["resource_id"],
        None if before is None else json.loads(before),
        None if after is None else json.loads(after),
    )


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def record(
    tx: Tx,
    entry_id: str,
    tenant_id: str,
    at: float,
    actor: Actor,
    client: str | None,
    action: str,
    resource: tuple[str, str | None],
    before: Any = None,
    after: Any = None,
) -> None:
    """Append an entry; ``before``/``after`` must already have their secrets masked."""
    tx.execute(
        "INSERT INTO audit_entries (id, tenant_id, at, actor_type, actor, client, action, resource_type,"
        f" resource_id, before, after) VALUES (?, ?, ?, ?, {_NAME}, ?, ?, ?, ?, ?, ?)",
        (
            entry_id,
            tenant_id,
            at,
            actor.kind,
            actor.kind,
            actor.ref,
            actor.name,
            actor.ref,
            client,
            action,
            resource[0],
            resource[1],
            _json(before),
            _json(after),
        ),
    )


async def page(
    db: Database,
    tenant_id: str,
    since: float | None,
    until: float | None,
    actor: str | None,
    action: str | None,
    limit: int,
    before: int | None,
) -> list[Entry]:
    """Up to ``limit`` entries, newest first, with ``seq`` below ``before``. ``action`` ending
    in ``.*`` matches the family (``template.*``); ``actor`` is a prefix or an email."""
    where, params = ["tenant_id = ?"], list[object]([tenant_id])
    if since is not None:
        where.append("at >= ?")
        params.append(since)
    if until is not None:
        where.append("at < ?")
        params.append(until)
    if actor:
        where.append("actor = ?")
        params.append(actor)
    if action and action.endswith(".*"):
        where.append("substr(action, 1, ?) = ?")
        params += [len(action) - 1, action[:-1]]
    elif action:
        where.append("action = ?")
        params.append(action)
    if before is not None:
        where.append("seq < ?")
        params.append(before)
    rows = await db.fetchall(f"{_COLUMNS} WHERE {' AND '.join(where)} ORDER BY seq DESC LIMIT ?", (*params, limit))
    return [_row(r) for r in rows]
