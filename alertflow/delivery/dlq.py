"""The dead-letter queue: deliveries whose retries ran out, kept until replayed or deleted."""

from __future__ import annotations

from typing import Any

from ..storage import deliveries, jobs
from ..storage.database import Database, Tx
from ..timefmt import iso

# The history's entry for a replay, among the delivery's attempts (it is not one: no send).
REPLAYED = "replayed"


def shape(row: Any) -> dict[str, Any]:
    return {
        "delivery_id": row["delivery_id"],
        "notification_id": row["notification_id"],
        "tenant_id": row["tenant_id"],
        "channel": row["channel"],
        "attempts": row["attempts"],
        "last_error": row["last_error"],
        "dead_at": iso(row["dead_at"]),
    }


async def entries(
    db: Database, tenant_id: str | None, channel: str | None = None, limit: int = 100, cursor: str | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first; the cursor is the last delivery id of the previous page."""
    rows = await jobs.dead_letters(db, tenant_id, channel, limit + 1, cursor)
    more = len(rows) > limit
    rows = rows[:limit]
    return [shape(r) for r in rows], (rows[-1]["delivery_id"] if more and rows else None)


def replay(tx: Tx, delivery_id: str, now: float, tenant_id: str | None = None) -> dict[str, Any] | None:
    """Send a dead delivery again with a fresh set of attempts, and say so in its history."""
    replayed = jobs.replay(tx, delivery_id, now, tenant_id)
    if replayed is not None:
        deliveries.add_events(tx, delivery_id, now, [(REPLAYED, None, None)])
    return replayed
