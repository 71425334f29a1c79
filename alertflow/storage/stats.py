"""Counts for /metrics and the analytics API, read straight from the queue and deliveries,
plus the counts retention rolled up before it purged rows (retention_rows.usage_rollups:
attributed to the hour the rows were created in)."""

from __future__ import annotations

from dataclasses import dataclass

from ..delivery.queue import PRIORITIES
from ..message import STATUS_CHANNEL
from . import retention_rows
from .database import POSTGRESQL, Database, dialect


@dataclass(frozen=True)
class QueueCounts:
    """The queue's depth: jobs per (channel, state), and the dead letters."""

    jobs: dict[tuple[str, int], int]
    dead: int


async def queue_counts(db: Database) -> QueueCounts:
    rows = await db.fetchall("SELECT channel, state, COUNT(*) AS n FROM jobs GROUP BY channel, state")
    dead = await db.fetchone("SELECT COUNT(*) AS n FROM dead_letters")
    return QueueCounts({(r["channel"], r["state"]): r["n"] for r in rows}, dead["n"] if dead else 0)


async def deliveries_by_bucket(
    db: Database, tenant_id: str, since: float, until: float, size: float, channel: str | None
) -> dict[int, dict[str, int]]:
    """The tenant's deliveries created in [since, until), counted per status in buckets of
    ``size`` seconds numbered from 0 at ``since``; buckets without any are left out."""
    where, params = "tenant_id = ? AND created_at >= ? AND created_at < ?", [tenant_id, since, until]
    if channel:
        where += " AND channel = ?"
        params.append(channel)
    # CAST truncates in SQLite but rounds in PostgreSQL: there the bucket is floored.
    bucket = (
        "FLOOR((created_at - ?) / ?)::BIGINT" if dialect(db) == POSTGRESQL else "CAST((created_at - ?) / ? AS INTEGER)"
    )
    rows = await db.fetchall(
        f"SELECT {bucket} AS bucket, status, COUNT(*) AS n FROM deliveries WHERE {where} GROUP BY bucket, status",
        (since, size, *params),
    )
    counts: dict[int, dict[str, int]] = {}
    for r in rows:
        counts.setdefault(r["bucket"], {})[r["status"]] = r["n"]
    for hour, _, status, count in await retention_rows.rolled_deliveries(db, tenant_id, since, until, channel):
        slot = counts.setdefault(int((hour - since) // size), {})
        slot[status] = slot.get(status, 0) + count
    return counts


async def notifications_between(db: Database, tenant_id: str, start: float, end: float) -> int:
    row = await db.fetchone(
        "SELECT COUNT(*) AS n FROM notifications WHERE tenant_id = ? AND created_at >= ? AND created_at < ?",
        (tenant_id, start, end),
    )
    return (row["n"] if row else 0) + await retention_rows.rolled_notifications(db, tenant_id, start, end)


async def deliveries_between(db: Database, tenant_id: str, start: float, end: float) -> dict[str, dict[str, int]]:
    """The tenant's deliveries created in [start, end), counted per channel and status."""
    rows = await db.fetchall(
        "SELECT channel, status, COUNT(*) AS n FROM deliveries WHERE tenant_id = ? AND created_at >= ?"
        " AND created_at < ? GROUP BY channel, status",
        (tenant_id, start, end),
    )
    by_channel: dict[str, dict[str, int]] = {}
    for r in rows:
        by_channel.setdefault(r["channel"], {})[r["status"]] = r["n"]
    for _, channel, status, n in await retention_rows.rolled_deliveries(db, tenant_id, start, end):
        statuses = by_channel.setdefault(channel, {})
        statuses[status] = statuses.get(status, 0) + n
    return by_channel


@dataclass(frozen=True)
class TenantQueue:
    """A tenant's work in the queue: jobs per channel and priority name, and its dead letters."""

    depth: dict[str, dict[str, int]]
    dead: int


async def tenant_queue(db: Database, tenant_id: str) -> TenantQueue:
    """Every job is a delivery scheduled, queued or being sent; the internal status channel
    (status webhooks' events) is left out: it is no channel the tenant publishes on."""
    names = {level: name for name, level in PRIORITIES.items()}
    rows = await db.fetchall(
        "SELECT channel, priority, COUNT(*) AS n FROM jobs WHERE tenant_id = ? AND channel <> ?"
        " GROUP BY channel, priority",
        (tenant_id, STATUS_CHANNEL),
    )
    depth: dict[str, dict[str, int]] = {}
    for r in rows:
        depth.setdefault(r["channel"], {})[names[r["priority"]]] = r["n"]
    dead = await db.fetchone("SELECT COUNT(*) AS n FROM dead_letters WHERE tenant_id = ?", (tenant_id,))
    return TenantQueue(depth, dead["n"] if dead else 0)
