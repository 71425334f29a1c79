"""Topics: which users each of a tenant's topics holds."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .database import POSTGRESQL, Database, Tx, dialect
from .users import known_users_sql, parse_users


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


async def size(db: Database, tenant_id: str, topic: str) -> int:
    row = await db.fetchone(
        "SELECT COUNT(*) AS n FROM topic_subscribers WHERE tenant_id = ? AND topic = ?", (tenant_id, topic)
    )
    return int(row["n"]) if row else 0


async def page(db: Database, tenant_id: str, topic: str, after: str, limit: int) -> tuple[list[str], dict[str, Any]]:
    """Members after ``after`` in user_id order (a seek on the key, however big the topic),
    and those of them that are known users (:func:`.users.known_users_sql`)."""
    # SQLite: json_group_array; PostgreSQL: json_agg, null for no rows.
    sql_dialect = dialect(db)
    members = "COALESCE(json_agg(user_id)::text, '[]')" if sql_dialect == POSTGRESQL else "json_group_array(user_id)"
    found = await db.fetchone(
        "WITH page AS MATERIALIZED (SELECT user_id FROM topic_subscribers"
        " WHERE tenant_id = ?1 AND topic = ?2 AND user_id > ?3 ORDER BY user_id LIMIT ?4)"
        f" SELECT (SELECT {members} FROM page) AS page, {known_users_sql('SELECT user_id FROM page', sql_dialect)}"
        " AS users",
        (tenant_id, topic, after, limit),
    )
    if found is None:
        return [], {}
    return sorted(json.loads(found["page"])), parse_users(found["users"])


async def topics(db: Database, tenant_id: str, after: str, limit: int) -> list[tuple[str, int]]:
    """The tenant's topics after ``after`` in order, each with its number of members: a walk
    of the key (tenant_id, topic, user_id) that reads each listed topic's members once, so a
    page costs the size of its topics (README, "Users, topics, batches"), never a sort."""
    rows = await db.fetchall(
        "SELECT topic, COUNT(*) AS n FROM topic_subscribers WHERE tenant_id = ? AND topic > ?"
        " GROUP BY topic ORDER BY topic LIMIT ?",
        (tenant_id, after, limit),
    )
    return [(r["topic"], int(r["n"])) for r in rows]
