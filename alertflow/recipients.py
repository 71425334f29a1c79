"""Looking up who a publish reaches: user records and topic subscribers."""

from __future__ import annotations

from typing import Any

from .storage.database import Database


async def users(db: Database, tenant_id: str, user_ids: set[str]) -> dict[str, Any]:
    if not user_ids:
        return {}
    ids = sorted(user_ids)
    rows = await db.fetchall(
        f"SELECT * FROM users WHERE tenant_id = ? AND user_id IN ({','.join('?' * len(ids))})", (tenant_id, *ids)
    )
    return {r["user_id"]: r for r in rows}


async def topic_members(db: Database, tenant_id: str, topic: str) -> list[str]:
    rows = await db.fetchall(
        "SELECT user_id FROM topic_subscribers WHERE tenant_id = ? AND topic = ? ORDER BY user_id", (tenant_id, topic)
    )
    return [r["user_id"] for r in rows]


async def topic_size(db: Database, tenant_id: str, topic: str) -> int:
    row = await db.fetchone(
        "SELECT COUNT(*) AS n FROM topic_subscribers WHERE tenant_id = ? AND topic = ?", (tenant_id, topic)
    )
    return int(row["n"]) if row else 0


async def topic_page(db: Database, tenant_id: str, topic: str, after: str, limit: int) -> list[str]:
    """Subscribers after ``after`` in user_id order: a seek on the key, however big the topic."""
    rows = await db.fetchall(
        "SELECT user_id FROM topic_subscribers WHERE tenant_id = ? AND topic = ? AND user_id > ?"
        " ORDER BY user_id LIMIT ?",
        (tenant_id, topic, after, limit),
    )
    return [r["user_id"] for r in rows]
