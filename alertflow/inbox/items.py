"""The in-app inbox: reading, marking and archiving the items the built-in ``inbox`` provider writes.

An item stays ``sent`` until the user's browser acknowledges or reads it; then its delivery
becomes ``delivered``. Archiving (``DELETE``) hides an item but keeps its row, so history and
delivery counts stay whole; erasing a user (``DELETE /v1/users/{id}``) removes the rows.
Write functions here run inside the single writer (see storage.database).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .. import signing
from ..storage.database import Database
from ..timefmt import iso

TOKEN_PURPOSE = "inbox"
ITEM_ID = re.compile(r"^inb_[0-9a-z]{26}$")
# SQLite allows 32,766 parameters; lists are read in slices well under that.
IN_LIST_SLICE = 500
COLUMNS = "id, tenant_id, user_id, title, body, action_url, data, category, created_at, read_at"
VISIBLE = "tenant_id = ? AND user_id = ? AND archived_at IS NULL"


@dataclass(frozen=True)
class Subscriber:
    """Whose inbox: a user of a tenant (user ids are only unique within their tenant)."""

    tenant_id: str
    user_id: str

    @property
    def params(self) -> tuple[str, str]:
        return self.tenant_id, self.user_id


def issue_token(secret: str, subscriber: Subscriber, ttl_seconds: float, now: float) -> tuple[str, float]:
    """A subscriber token for the user's browser, and when it expires."""
    payload = {"t": subscriber.tenant_id, "u": subscriber.user_id}
    return signing.sign(secret, TOKEN_PURPOSE, payload, ttl_seconds, now), now + ttl_seconds


def token_subscriber(secret: str, token: str, now: float) -> Subscriber:
    """Whose token this is; raises :class:`signing.InvalidToken` or :class:`signing.ExpiredToken`."""
    claims = signing.verify(secret, TOKEN_PURPOSE, token, now)
    return Subscriber(claims["t"], claims["u"])


def shape(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "title": row["title"],
        "body": row["body"],
        "action_url": row["action_url"],
        "data": json.loads(row["data"]),
        "category": row["category"],
        "created_at": iso(row["created_at"]),
        "read_at": iso(row["read_at"]),
    }


def _slices(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), IN_LIST_SLICE):
        yield values[start : start + IN_LIST_SLICE]


def _marks(n: int) -> str:
    return ",".join("?" * n)


async def user_exists(db: Database, subscriber: Subscriber) -> bool:
    row = await db.fetchone("SELECT 1 FROM users WHERE tenant_id = ? AND user_id = ?", subscriber.params)
    return row is not None


async def page(
    db: Database, subscriber: Subscriber, unread_only: bool, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first; ``cursor`` is the last id of the previous page."""
    where, params = [VISIBLE], list(subscriber.params)
    if unread_only:
        where.append("read_at IS NULL")
    if cursor:
        where.append("id < ?")
        params.append(cursor)
    rows = await db.fetchall(
        f"SELECT {COLUMNS} FROM inbox WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?", (*params, limit + 1)
    )
    more = len(rows) > limit
    return [shape(r) for r in rows[:limit]], (rows[limit - 1]["id"] if more else None)


async def recent(db: Database, subscriber: Subscriber, since: str | None, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` visible items (after ``since`` when given), oldest first, as a feed replays them."""
    after, params = ("AND id > ?", [since]) if since else ("", [])
    rows = await db.fetchall(
        f"SELECT {COLUMNS} FROM inbox WHERE {VISIBLE} {after} ORDER BY id DESC LIMIT ?",
        (*subscriber.params, *params, limit),
    )
    return [shape(r) for r in reversed(rows)]


async def by_ids(db: Database, item_ids: list[str]) -> list[sqlite3.Row]:
    """Visible items by id, whoever they belong to (the row says: ``tenant_id``, ``user_id``)."""
    rows: list[sqlite3.Row] = []
    for ids in _slices(item_ids):
        rows += await db.fetchall(
            f"SELECT {COLUMNS} FROM inbox WHERE id IN ({_marks(len(ids))}) AND archived_at IS NULL ORDER BY id", ids
        )
    return rows


async def unread_counts(db: Database, subscribers: Iterable[Subscriber]) -> dict[Subscriber, int]:
    """Unread, visible items per subscriber; a subscriber with none is absent."""
    by_tenant: dict[str, list[str]] = defaultdict(list)
    for s in subscribers:
        by_tenant[s.tenant_id].append(s.user_id)
    counts: dict[Subscriber, int] = {}
    for tenant_id, user_ids in by_tenant.items():
        for ids in _slices(user_ids):
            rows = await db.fetchall(
                "SELECT user_id, COUNT(*) AS n FROM inbox WHERE tenant_id = ?"
                f" AND user_id IN ({_marks(len(ids))}) AND read_at IS NULL AND archived_at IS NULL GROUP BY user_id",
                (tenant_id, *ids),
            )
            counts.update({Subscriber(tenant_id, r["user_id"]): r["n"] for r in rows})
    return counts


async def unread_count(db: Database, subscriber: Subscriber) -> int:
    return (await unread_counts(db, [subscriber])).get(subscriber, 0)


def _deliver(
    conn: sqlite3.Connection, subscriber: Subscriber, items: str, params: tuple[Any, ...], now: float
) -> list[str]:
    """Deliveries of the subscriber's ``items`` (an SQL condition) that were ``sent`` become ``delivered``."""
    rows = conn.execute(
        "UPDATE deliveries SET status = 'delivered', delivered_at = ?, updated_at = ? WHERE status = 'sent' AND id IN"
        f" (SELECT delivery_id FROM inbox WHERE tenant_id = ? AND user_id = ? AND {items}) RETURNING id",
        (now, now, *subscriber.params, *params),
    ).fetchall()
    return [r["id"] for r in rows]


def acknowledge(conn: sqlite3.Connection, subscriber: Subscriber, item_id: str, now: float) -> list[str]:
    """The item reached the user's browser; returns the delivery ids that became ``delivered``."""
    return _deliver(conn, subscriber, "id = ?", (item_id,), now)


def read(
    conn: sqlite3.Connection, subscriber: Subscriber, item_id: str, now: float
) -> tuple[dict[str, Any] | None, list[str]]:
    """Mark one visible item read (a second read keeps the first time); None when there is none."""
    row = conn.execute(
        f"UPDATE inbox SET read_at = COALESCE(read_at, ?) WHERE id = ? AND {VISIBLE} RETURNING {COLUMNS}",
        (now, item_id, *subscriber.params),
    ).fetchone()
    if row is None:
        return None, []
    return shape(row), acknowledge(conn, subscriber, item_id, now)


def read_all(conn: sqlite3.Connection, subscriber: Subscriber, now: float) -> tuple[int, list[str]]:
    """Mark every unread visible item read; returns how many, and the deliveries now delivered."""
    marked = conn.execute(
        f"UPDATE inbox SET read_at = ? WHERE {VISIBLE} AND read_at IS NULL", (now, *subscriber.params)
    ).rowcount
    # The items just marked are exactly those read at this instant.
    return marked, _deliver(conn, subscriber, "read_at = ?", (now,), now) if marked else []


def archive(conn: sqlite3.Connection, subscriber: Subscriber, item_id: str, now: float) -> bool:
    """Hide one item from the inbox; False when it is not there (or already archived)."""
    hidden = conn.execute(
        f"UPDATE inbox SET archived_at = ? WHERE id = ? AND {VISIBLE}", (now, item_id, *subscriber.params)
    )
    return hidden.rowcount > 0
