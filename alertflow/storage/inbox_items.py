"""The inbox table: the items the built-in ``inbox`` provider writes, as users' inboxes show them.

Items come back as dicts already shaped for the API (and the live socket), since that is
all anyone does with them. An inbox belongs to a user of a tenant: every operation on one
inbox takes both ids. An archived item keeps its row but is invisible to every read here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..timefmt import iso
from . import deliveries
from .database import Database, Row, Tx

# SQLite allows 32,766 parameters; lists are read in slices well under that.
IN_LIST_SLICE = 500
COLUMNS = "id, tenant_id, user_id, title, body, action_url, data, category, created_at, read_at, replace_key, replaces"
VISIBLE = "tenant_id = ? AND user_id = ? AND archived_at IS NULL"


@dataclass(frozen=True)
class NewItem:
    """An item as the provider writes it; ``data`` is a JSON object."""

    id: str
    tenant_id: str
    user_id: str
    delivery_id: str
    notification_id: str
    title: str | None
    body: str | None
    action_url: str | None
    data: dict[str, Any]
    category: str
    created_at: float
    replace_key: str | None = None  # a later item with this key replaces this one


@dataclass(frozen=True)
class OwnedItem:
    """An item with whose inbox it is in, for reads across inboxes."""

    tenant_id: str
    user_id: str
    item: dict[str, Any]
    replaces: str | None = None  # the item this one replaced (hidden since)


def _shape(row: Row) -> dict[str, Any]:
    item = {
        "id": row["id"],
        "title": row["title"],
        "body": row["body"],
        "action_url": row["action_url"],
        "data": json.loads(row["data"]),
        "category": row["category"],
        "created_at": iso(row["created_at"]),
        "read_at": iso(row["read_at"]),
    }
    if row["replace_key"] is not None:  # only items sent with one carry it
        item["replace_key"] = row["replace_key"]
    return item


def _slices(values: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), IN_LIST_SLICE):
        yield values[start : start + IN_LIST_SLICE]


def _marks(n: int) -> str:
    return ",".join("?" * n)


# --- reads -------------------------------------------------------------------------------------


async def page(
    db: Database, tenant_id: str, user_id: str, unread_only: bool, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Visible items newest first, and the next page's cursor (None on the last page);
    ``cursor`` is the last id of the previous page."""
    where, params = [VISIBLE], [tenant_id, user_id]
    if unread_only:
        where.append("read_at IS NULL")
    if cursor:
        where.append("id < ?")
        params.append(cursor)
    rows = await db.fetchall(
        f"SELECT {COLUMNS} FROM inbox WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?", (*params, limit + 1)
    )
    more = len(rows) > limit
    return [_shape(r) for r in rows[:limit]], (rows[limit - 1]["id"] if more else None)


async def recent(db: Database, tenant_id: str, user_id: str, since: str | None, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` visible items (after ``since`` when given), oldest first, as a feed replays them."""
    after, params = ("AND id > ?", [since]) if since else ("", [])
    rows = await db.fetchall(
        f"SELECT {COLUMNS} FROM inbox WHERE {VISIBLE} {after} ORDER BY id DESC LIMIT ?",
        (tenant_id, user_id, *params, limit),
    )
    return [_shape(r) for r in reversed(rows)]


async def by_ids(db: Database, item_ids: list[str]) -> list[OwnedItem]:
    """Visible items by id, in id order, whoever they belong to; unknown ids are left out."""
    found: list[OwnedItem] = []
    for ids in _slices(item_ids):
        rows = await db.fetchall(
            f"SELECT {COLUMNS} FROM inbox WHERE id IN ({_marks(len(ids))}) AND archived_at IS NULL ORDER BY id", ids
        )
        found += [OwnedItem(r["tenant_id"], r["user_id"], _shape(r), r["replaces"]) for r in rows]
    return found


async def of_deliveries(db: Database, tenant_id: str, delivery_ids: list[str]) -> dict[str, dict[str, Any]]:
    """What each of these deliveries of the tenant put in an inbox (title, body, action_url,
    data), by delivery id: archived items too, since it was sent all the same."""
    found: dict[str, dict[str, Any]] = {}
    for ids in _slices(delivery_ids):
        rows = await db.fetchall(
            "SELECT delivery_id, title, body, action_url, data FROM inbox WHERE tenant_id = ?"
            f" AND delivery_id IN ({_marks(len(ids))})",
            (tenant_id, *ids),
        )
        found.update(
            {
                r["delivery_id"]: {
                    "title": r["title"],
                    "body": r["body"],
                    "action_url": r["action_url"],
                    "data": json.loads(r["data"]),
                }
                for r in rows
            }
        )
    return found


async def unread_counts(db: Database, tenant_id: str, user_ids: list[str]) -> dict[str, int]:
    """Unread, visible items per user of one tenant; a user with none is absent."""
    counts: dict[str, int] = {}
    for ids in _slices(user_ids):
        rows = await db.fetchall(
            "SELECT user_id, COUNT(*) AS n FROM inbox WHERE tenant_id = ?"
            f" AND user_id IN ({_marks(len(ids))}) AND read_at IS NULL AND archived_at IS NULL GROUP BY user_id",
            (tenant_id, *ids),
        )
        counts.update({r["user_id"]: r["n"] for r in rows})
    return counts


async def read_at(db: Database, tenant_id: str, user_id: str | None, notification_id: str) -> float | None:
    """When the user read the notification's in-app item, if they did (archived or not)."""
    row = await db.fetchone(
        "SELECT MIN(read_at) FROM inbox WHERE tenant_id = ? AND user_id = ? AND notification_id = ?",
        (tenant_id, user_id, notification_id),
    )
    return None if row is None else row[0]


# --- writes ------------------------------------------------------------------------------------


def add(tx: Tx, item: NewItem) -> None:
    """Store an item; one with a ``replace_key`` hides the user's earlier items of that key
    (their deliveries' history says by which notification) and names the newest it replaced."""
    replaces = _replace(tx, item) if item.replace_key is not None else None
    tx.execute(
        "INSERT INTO inbox (id, tenant_id, user_id, delivery_id, notification_id, title, body,"
        " action_url, data, category, created_at, replace_key, replaces) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            item.id,
            item.tenant_id,
            item.user_id,
            item.delivery_id,
            item.notification_id,
            item.title,
            item.body,
            item.action_url,
            json.dumps(item.data),
            item.category,
            item.created_at,
            item.replace_key,
            replaces,
        ),
    )


def _replace(tx: Tx, item: NewItem) -> str | None:
    rows = tx.execute(
        "UPDATE inbox SET archived_at = ? WHERE tenant_id = ? AND user_id = ? AND replace_key = ?"
        " AND archived_at IS NULL RETURNING id, delivery_id",
        (item.created_at, item.tenant_id, item.user_id, item.replace_key),
    ).fetchall()
    for r in rows:
        deliveries.add_events(tx, r["delivery_id"], item.created_at, [("replaced", f"by {item.notification_id}", None)])
    return max((r["id"] for r in rows), default=None)


def _deliver(tx: Tx, tenant_id: str, user_id: str, items: str, params: tuple[Any, ...], now: float) -> list[str]:
    """Deliveries of the user's ``items`` (an SQL condition) that were ``sent`` become ``delivered``."""
    return deliveries.deliver_sent(
        tx,
        f"SELECT delivery_id FROM inbox WHERE tenant_id = ? AND user_id = ? AND {items}",
        (tenant_id, user_id, *params),
        now,
    )


def acknowledge(tx: Tx, tenant_id: str, user_id: str, item_id: str, now: float) -> list[str]:
    """The item reached the user's browser; returns the delivery ids that became ``delivered``."""
    return _deliver(tx, tenant_id, user_id, "id = ?", (item_id,), now)


def read(tx: Tx, tenant_id: str, user_id: str, item_id: str, now: float) -> tuple[dict[str, Any] | None, list[str]]:
    """Mark one visible item read (a second read keeps the first time), its delivery delivered;
    returns the item (None when there is none) and the delivery ids that became ``delivered``."""
    row = tx.execute(
        f"UPDATE inbox SET read_at = COALESCE(read_at, ?) WHERE id = ? AND {VISIBLE} RETURNING {COLUMNS}",
        (now, item_id, tenant_id, user_id),
    ).fetchone()
    if row is None:
        return None, []
    return _shape(row), acknowledge(tx, tenant_id, user_id, item_id, now)


def read_all(tx: Tx, tenant_id: str, user_id: str, now: float) -> tuple[int, list[str]]:
    """Mark every unread visible item read; returns how many, and the deliveries now delivered."""
    marked: int = tx.execute(
        f"UPDATE inbox SET read_at = ? WHERE {VISIBLE} AND read_at IS NULL", (now, tenant_id, user_id)
    ).rowcount
    # The items just marked are exactly those read at this instant.
    return marked, _deliver(tx, tenant_id, user_id, "read_at = ?", (now,), now) if marked else []


def archive(tx: Tx, tenant_id: str, user_id: str, item_id: str, now: float) -> bool:
    """Hide one item from the inbox; False when it is not there (or already archived)."""
    hidden = tx.execute(
        f"UPDATE inbox SET archived_at = ? WHERE id = ? AND {VISIBLE}", (now, item_id, tenant_id, user_id)
    )
    return hidden.rowcount > 0
