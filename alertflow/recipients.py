"""Looking up who a publish reaches: user records and topic subscribers."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from .message import Device
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


def prune_devices(
    conn: sqlite3.Connection, tenant_id: str, user_id: str, delivery_id: str, devices: tuple[Device, ...], now: float
) -> None:
    """Remove devices a provider found gone from the user, and record each removal (writer)."""
    row = conn.execute(
        "SELECT push_tokens, webpush FROM users WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id)
    ).fetchone()
    if row is None:
        return
    gone_tokens = {d.token for d in devices if d.kind == "fcm"}
    gone_endpoints = {(d.subscription or {}).get("endpoint") for d in devices if d.kind == "webpush"}
    tokens = [t for t in json.loads(row["push_tokens"]) if t not in gone_tokens]
    subscriptions = [s for s in json.loads(row["webpush"]) if s.get("endpoint") not in gone_endpoints]
    conn.execute(
        "UPDATE users SET push_tokens = ?, webpush = ?, updated_at = ? WHERE tenant_id = ? AND user_id = ?",
        (json.dumps(tokens), json.dumps(subscriptions), now, tenant_id, user_id),
    )
    conn.executemany(
        "INSERT INTO attempts (delivery_id, at, outcome, error, provider) VALUES (?, ?, 'device_removed', ?, NULL)",
        [
            (delivery_id, now, f"{d.kind}: {(d.token or (d.subscription or {}).get('endpoint', ''))[:24]}…")
            for d in devices
        ],
    )
