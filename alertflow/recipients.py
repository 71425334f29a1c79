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
