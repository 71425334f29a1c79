"""Topics: which users each of a tenant's topics holds."""

from __future__ import annotations

from collections.abc import Iterable

from .database import Database, Tx


async def members(db: Database, tenant_id: str, topic: str) -> list[str]:
    """The topic's user ids in order; empty when the topic has none (or does not exist)."""
    rows = await db.fetchall(
        "SELECT user_id FROM topic_subscribers WHERE tenant_id = ? AND topic = ? ORDER BY user_id", (tenant_id, topic)
    )
    return [r["user_id"] for r in rows]


def add(tx: Tx, tenant_id: str, topic: str, user_ids: Iterable[str]) -> None:
    """Add users to the topic; those already in it stay as they are."""
    tx.executemany(
        "INSERT INTO topic_subscribers (tenant_id, topic, user_id) VALUES (?,?,?) ON CONFLICT DO NOTHING",
        [(tenant_id, topic, u) for u in user_ids],
    )


def remove(tx: Tx, tenant_id: str, topic: str, user_ids: Iterable[str]) -> None:
    tx.executemany(
        "DELETE FROM topic_subscribers WHERE tenant_id = ? AND topic = ? AND user_id = ?",
        [(tenant_id, topic, u) for u in user_ids],
    )


def clear(tx: Tx, tenant_id: str, topic: str) -> int:
    """Remove every member of the topic; how many there were."""
    return int(
        tx.execute("DELETE FROM topic_subscribers WHERE tenant_id = ? AND topic = ?", (tenant_id, topic)).rowcount
    )


def size_for_write(tx: Tx, tenant_id: str, topic: str) -> int:
    """How many members the topic has as the writer sees it (after this transaction's changes)."""
    row = tx.execute(
        "SELECT COUNT(*) FROM topic_subscribers WHERE tenant_id = ? AND topic = ?", (tenant_id, topic)
    ).fetchone()
    return int(row[0])
