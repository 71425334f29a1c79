"""Delivery counts over time and per month, read straight from the deliveries table."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from ..storage.database import Database
from ..timefmt import iso

BUCKET_SECONDS = {"hour": 3600, "day": 86400}


async def deliveries(
    db: Database, tenant_id: str, since: float, until: float, interval: str, channel: str | None
) -> list[dict[str, Any]]:
    """Buckets of ``interval`` from ``since`` to ``until``: deliveries created in each, by status."""
    size = BUCKET_SECONDS[interval]
    where, params = "tenant_id = ? AND created_at >= ? AND created_at < ?", [tenant_id, since, until]
    if channel:
        where += " AND channel = ?"
        params.append(channel)
    rows = await db.fetchall(
        f"SELECT CAST((created_at - ?) / ? AS INTEGER) AS bucket, status, COUNT(*) AS n FROM deliveries"
        f" WHERE {where} GROUP BY bucket, status",
        (since, size, *params),
    )
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for r in rows:
        counts[r["bucket"]][r["status"]] = r["n"]
    buckets = int((until - since + size - 1) // size)
    return [
        {"start": iso(since + i * size), "counts": counts.get(i, {}), "total": sum(counts.get(i, {}).values())}
        for i in range(buckets)
    ]


def month_range(month: str) -> tuple[float, float]:
    """``YYYY-MM`` as [start, end) epoch seconds in UTC; ValueError when malformed."""
    start = datetime.strptime(month, "%Y-%m").replace(tzinfo=UTC)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start.timestamp(), end.timestamp()


async def usage(db: Database, tenant_id: str, month: str) -> dict[str, Any]:
    start, end = month_range(month)
    notifications = await db.fetchone(
        "SELECT COUNT(*) AS n FROM notifications WHERE tenant_id = ? AND created_at >= ? AND created_at < ?",
        (tenant_id, start, end),
    )
    rows = await db.fetchall(
        "SELECT channel, status, COUNT(*) AS n FROM deliveries WHERE tenant_id = ? AND created_at >= ?"
        " AND created_at < ? GROUP BY channel, status",
        (tenant_id, start, end),
    )
    by_channel: dict[str, dict[str, int]] = defaultdict(dict)
    for r in rows:
        by_channel[r["channel"]][r["status"]] = r["n"]
    return {
        "month": month,
        "notifications": notifications["n"] if notifications else 0,
        "deliveries": {c: {"total": sum(s.values()), **s} for c, s in sorted(by_channel.items())},
    }
