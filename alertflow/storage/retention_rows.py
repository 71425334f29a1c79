"""Retention: tenants' own retention days, the purge's chunked deletes, and the usage counts
of what it purged (usage_rollups), which stats.py adds to the counts of the rows still there.

Each purge operation deletes at most ``limit`` rows of one tenant older than ``before`` and
answers how many it deleted: the caller runs each as its own short write."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from .database import SQLITE, Database, Tx, dialect

KINDS = ("notifications", "inbox", "outbox", "webhook_attempts", "audit")
# Rolled-up counts keep the hour a row was created in: analytics' finest bucket.
HOUR = 3600.0


def hour_of(at: float) -> float:
    return at - at % HOUR


async def settings(db: Database, tenant_id: str) -> dict[str, int | None]:
    """The tenant's own days per kind; None where it keeps the configured default."""
    row = await db.fetchone(f"SELECT {', '.join(KINDS)} FROM retention_settings WHERE tenant_id = ?", (tenant_id,))
    return {k: None if row is None else row[k] for k in KINDS}


async def overrides(db: Database) -> dict[str, dict[str, int | None]]:
    """Every tenant's own days, for one purge run."""
    rows = await db.fetchall(f"SELECT tenant_id, {', '.join(KINDS)} FROM retention_settings")
    return {r["tenant_id"]: {k: r[k] for k in KINDS} for r in rows}


def put_settings(tx: Tx, tenant_id: str, days: dict[str, int | None]) -> None:
    values = [days.get(k) for k in KINDS]
    tx.execute(
        f"INSERT INTO retention_settings (tenant_id, {', '.join(KINDS)}) VALUES (?, ?, ?, ?, ?, ?)"
        f" ON CONFLICT (tenant_id) DO UPDATE SET {', '.join(f'{k} = excluded.{k}' for k in KINDS)}",
        (tenant_id, *values),
    )


def _in(ids: Sequence[Any]) -> str:
    return f"({','.join('?' * len(ids))})"


def purge_notifications(tx: Tx, tenant_id: str, before: float, limit: int) -> int:
    """The tenant's oldest notifications created before ``before``, with their deliveries,
    attempts and dead letters, their counts rolled up first. A notification with a delivery
    still queued (a far-off send_at) stays, and so does every later one, until it is sent."""
    # Ids sort by creation time: the oldest are the index's first, so the scan reads only
    # ``limit`` rows even when none is old enough (an index on created_at would cost publish).
    rows = tx.execute(
        "SELECT id, created_at FROM notifications WHERE tenant_id = ? ORDER BY id LIMIT ?", (tenant_id, limit)
    ).fetchall()
    ids = [r["id"] for r in rows if r["created_at"] < before]
    if not ids:
        return 0
    queued = tx.execute(
        f"SELECT DISTINCT d.notification_id FROM deliveries d JOIN jobs j ON j.delivery_id = d.id"
        f" WHERE d.notification_id IN {_in(ids)}",
        ids,
    ).fetchall()
    if queued:
        held = {r["notification_id"] for r in queued}
        ids = ids[: next(i for i, nid in enumerate(ids) if nid in held)]
        if not ids:
            return 0
    created = {r["id"]: r["created_at"] for r in rows}
    deliveries = tx.execute(
        f"SELECT id, channel, status, created_at FROM deliveries WHERE notification_id IN {_in(ids)}", ids
    ).fetchall()
    counts = Counter((hour_of(d["created_at"]), d["channel"], d["status"]) for d in deliveries)
    counts_n = Counter(hour_of(created[nid]) for nid in ids)
    _roll_up(tx, tenant_id, [(h, "", "", n, 0) for h, n in counts_n.items()])
    _roll_up(tx, tenant_id, [(h, c, s, 0, n) for (h, c, s), n in counts.items()])
    delivery_ids = [d["id"] for d in deliveries]
    for start in range(0, len(delivery_ids), limit):
        part = delivery_ids[start : start + limit]
        tx.execute(f"DELETE FROM attempts WHERE delivery_id IN {_in(part)}", part)
        tx.execute(f"DELETE FROM dead_letters WHERE delivery_id IN {_in(part)}", part)
    tx.execute(f"DELETE FROM deliveries WHERE notification_id IN {_in(ids)}", ids)
    # A digest's list of events goes with the digest, and an event leaves the list it was in.
    tx.execute(f"DELETE FROM digest_events WHERE digest_id IN {_in(ids)} OR notification_id IN {_in(ids)}", ids + ids)
    tx.execute(f"DELETE FROM notifications WHERE id IN {_in(ids)}", ids)
    return len(ids)


def _roll_up(tx: Tx, tenant_id: str, rows: list[tuple[float, str, str, int, int]]) -> None:
    if rows:
        tx.executemany(
            "INSERT INTO usage_rollups (tenant_id, hour, channel, status, notifications, deliveries)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, hour, channel, status) DO UPDATE SET"
            " notifications = usage_rollups.notifications + excluded.notifications,"
            " deliveries = usage_rollups.deliveries + excluded.deliveries",
            [(tenant_id, *r) for r in rows],
        )


def _purge_by_age(tx: Tx, table: str, key: str, age: str, tenant_id: str, before: float, limit: int) -> int:
    deleted = tx.execute(
        f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE tenant_id = ? AND {age} < ?"
        f" ORDER BY {age} LIMIT ?)",
        (tenant_id, before, limit),
    )
    return max(deleted.rowcount, 0)


def purge_inbox(tx: Tx, tenant_id: str, before: float, limit: int) -> int:
    return _purge_by_age(tx, "inbox", "id", "created_at", tenant_id, before, limit)


def purge_outbox(tx: Tx, tenant_id: str, before: float, limit: int) -> int:
    return _purge_by_age(tx, "outbox", "id", "created_at", tenant_id, before, limit)


def purge_webhook_attempts(tx: Tx, tenant_id: str, before: float, limit: int) -> int:
    return _purge_by_age(tx, "webhook_attempts", "id", "at", tenant_id, before, limit)


def purge_audit(tx: Tx, tenant_id: str, before: float, limit: int) -> int:
    return _purge_by_age(tx, "audit_entries", "seq", "at", tenant_id, before, limit)


def vacuum(tx: Tx, pages: int) -> None:
    """Give up to ``pages`` free pages back to the file system. PostgreSQL's autovacuum does
    its counterpart on its own (space is reused, and returned by VACUUM FULL only)."""
    if dialect(tx) == SQLITE:
        # SQLite: the pragma frees pages one step at a time; fetching runs every step.
        tx.execute(f"PRAGMA incremental_vacuum({int(pages)})").fetchall()


async def rolled_notifications(db: Database, tenant_id: str, start: float, end: float) -> int:
    row = await db.fetchone(
        "SELECT COALESCE(SUM(notifications), 0) AS n FROM usage_rollups WHERE tenant_id = ? AND channel = ''"
        " AND hour >= ? AND hour < ?",
        (tenant_id, start, end),
    )
    return int(row["n"]) if row else 0


async def rolled_deliveries(
    db: Database, tenant_id: str, start: float, end: float, channel: str | None = None
) -> list[tuple[float, str, str, int]]:
    """(hour, channel, status, count) of purged deliveries created in hours in [start, end)."""
    where, params = "tenant_id = ? AND channel <> '' AND hour >= ? AND hour < ?", [tenant_id, start, end]
    if channel:
        where += " AND channel = ?"
        params.append(channel)
    rows = await db.fetchall(f"SELECT hour, channel, status, deliveries FROM usage_rollups WHERE {where}", params)
    return [(r["hour"], r["channel"], r["status"], int(r["deliveries"])) for r in rows]


def free_pages(tx: Tx) -> int:
    """Pages the file holds but no row uses: what :func:`vacuum` can give back (0 on PostgreSQL)."""
    if dialect(tx) != SQLITE:
        return 0
    # SQLite: the free-list length of the database file.
    return int(tx.execute("PRAGMA freelist_count").fetchone()[0])
