"""Looking up who a publish reaches: user records and topic subscribers."""

from __future__ import annotations

import json
from typing import Any

from ..message import Device
from ..storage import users as stored_users
from ..storage.database import Database, Tx


def known_users_sql(user_ids: str) -> str:
    """A scalar subquery: the known users among ``user_ids`` (a SELECT of ids; ``?1`` is the
    tenant) as one JSON array of what a plan needs of each (contact, devices, timezone),
    with their preferences document under ``preferences`` (or null).

    One row of JSON, not a row per user: the sqlite3 module takes the GIL back after every
    row it steps, which costs up to a switch interval each while the event loop is busy (a
    bulk fan-out looks up users 1,000 at a time). Preferences come in the same query, and a
    fan-out step reads its recipients with it: each round trip to a reader thread waits for
    the busy event loop to pick up its result.
    """
    return (
        "(SELECT json_group_array(json_object('user_id', u.user_id, 'email', u.email, 'phone', u.phone,"
        " 'push_tokens', u.push_tokens, 'webpush', u.webpush, 'timezone', u.timezone, 'preferences', p.document))"
        " FROM users u LEFT JOIN preferences p ON p.tenant_id = u.tenant_id AND p.user_id = u.user_id"
        f" WHERE u.tenant_id = ?1 AND u.user_id IN ({user_ids}))"
    )


def parse_users(found: str | None) -> dict[str, Any]:
    """:func:`known_users_sql`'s array, by user id."""
    return {u["user_id"]: u for u in json.loads(found)} if found else {}


async def users(db: Database, tenant_id: str, user_ids: set[str]) -> dict[str, Any]:
    """The known users among ``user_ids``, as :func:`known_users_sql` describes them."""
    if not user_ids:
        return {}
    ids = json.dumps(sorted(user_ids))
    found = await db.fetchone(f"SELECT {known_users_sql('SELECT value FROM json_each(?2)')} AS users", (tenant_id, ids))
    return parse_users(found["users"] if found else None)


def prune_devices(
    tx: Tx, tenant_id: str, user_id: str, delivery_id: str, devices: tuple[Device, ...], now: float
) -> None:
    """Remove devices a provider found gone from the user, and record each removal (writer)."""
    tokens = {d.token for d in devices if d.kind == "fcm" and d.token}
    endpoints = {e for d in devices if d.kind == "webpush" and (e := (d.subscription or {}).get("endpoint"))}
    if stored_users.remove_devices(tx, tenant_id, user_id, tokens, endpoints, now):
        removed = [f"{d.kind}: {(d.token or (d.subscription or {}).get('endpoint', ''))[:24]}…" for d in devices]
        stored_users.record_device_removals(tx, delivery_id, removed, now)


async def topic_size(db: Database, tenant_id: str, topic: str) -> int:
    row = await db.fetchone(
        "SELECT COUNT(*) AS n FROM topic_subscribers WHERE tenant_id = ? AND topic = ?", (tenant_id, topic)
    )
    return int(row["n"]) if row else 0


async def topic_page(
    db: Database, tenant_id: str, topic: str, after: str, limit: int
) -> tuple[list[str], dict[str, Any]]:
    """Subscribers after ``after`` in user_id order (a seek on the key, however big the
    topic), and those of them that are known users (:func:`known_users_sql`)."""
    found = await db.fetchone(
        "WITH page AS MATERIALIZED (SELECT user_id FROM topic_subscribers"
        " WHERE tenant_id = ?1 AND topic = ?2 AND user_id > ?3 ORDER BY user_id LIMIT ?4)"
        f" SELECT (SELECT json_group_array(user_id) FROM page) AS page, {known_users_sql('SELECT user_id FROM page')}"
        " AS users",
        (tenant_id, topic, after, limit),
    )
    if found is None:
        return [], {}
    return sorted(json.loads(found["page"])), parse_users(found["users"])
