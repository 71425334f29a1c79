"""Delivery counts over time and per month, read straight from the deliveries table."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ..storage import stats
from ..storage.database import Database
from ..timefmt import iso

BUCKET_SECONDS = {"hour": 3600, "day": 86400}


async def deliveries(
    db: Database, tenant_id: str, since: float, until: float, interval: str, channel: str | None
) -> list[dict[str, Any]]:
    """Buckets of ``interval`` from ``since`` to ``until``: deliveries created in each, by status."""
    size = BUCKET_SECONDS[interval]
    counts = await stats.deliveries_by_bucket(db, tenant_id, since, until, size, channel)
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
    by_channel = await stats.deliveries_between(db, tenant_id, start, end)
    return {
        "month": month,
        "notifications": await stats.notifications_between(db, tenant_id, start, end),
        "deliveries": {c: {"total": sum(s.values()), **s} for c, s in sorted(by_channel.items())},
    }
