"""Idempotency keys: each the first response to a request, with the request's fingerprint.

Whether a key still counts (its age) and whether the fingerprint matches is decided by
intake/idempotency.py; here a key is stored and found.
"""

from __future__ import annotations

from dataclasses import dataclass

from .database import Database, Row, Tx

_FIND = "SELECT response, fingerprint FROM idempotency_keys WHERE tenant_id = ? AND key = ? AND created_at > ?"


@dataclass(frozen=True)
class StoredKey:
    """The response first given under a key (JSON) and the fingerprint of its request."""

    response: str
    fingerprint: str | None  # None: stored before fingerprints were


async def find(db: Database, tenant_id: str, key: str, since: float) -> StoredKey | None:
    """The key stored after ``since``, read on a reader (a shortcut: the writer decides)."""
    return _stored(await db.fetchone(_FIND, (tenant_id, key, since)))


def find_in(tx: Tx, tenant_id: str, key: str, since: float) -> StoredKey | None:
    """The key stored after ``since``, read inside the write that may store it (writer function)."""
    return _stored(tx.execute(_FIND, (tenant_id, key, since)).fetchone())


def claim(tx: Tx, tenant_id: str, key: str, fingerprint: str, now: float, since: float) -> bool:
    """Hold the key for the request under way, unless it was stored after ``since`` (writer
    function): True when this transaction now owns it. On PostgreSQL a second node claiming
    the same key waits on the first's row until that commits, then finds it and gets False
    (the unique key, not a per-process map, makes a key hold across nodes)."""
    row = tx.execute(
        "INSERT INTO idempotency_keys (tenant_id, key, response, created_at, fingerprint) VALUES (?, ?, '', ?, ?)"
        " ON CONFLICT (tenant_id, key) DO UPDATE SET response = excluded.response,"
        " created_at = excluded.created_at, fingerprint = excluded.fingerprint"
        " WHERE idempotency_keys.created_at <= ? RETURNING tenant_id",
        (tenant_id, key, now, fingerprint, since),
    ).fetchone()
    return row is not None


def save(tx: Tx, tenant_id: str, key: str, response: str, fingerprint: str, now: float) -> None:
    """Store the key's response, replacing an expired one under the same key (writer function)."""
    tx.execute(
        "INSERT INTO idempotency_keys (tenant_id, key, response, created_at, fingerprint) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (tenant_id, key) DO UPDATE SET response = excluded.response,"
        " created_at = excluded.created_at, fingerprint = excluded.fingerprint",
        (tenant_id, key, response, now, fingerprint),
    )


def _stored(row: Row | None) -> StoredKey | None:
    return StoredKey(row["response"], row["fingerprint"]) if row is not None else None
