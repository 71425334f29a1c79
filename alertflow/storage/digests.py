"""Digest windows (``digests``) and the events each collected (``digest_events``).

A window's digest is a notification of its own whose deliveries wait in the queue until the
window closes (``closes_at``): the queue's durable timer closes it, so it survives restarts.
Events join a window in the writer, and only while every delivery of its digest is still
waiting: once one was made ready (its time came, or ``max_events`` was reached) the next
event opens a new window, so no event is ever added to a digest already being sent.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..delivery.queue import READY, WAITING
from .database import Database, Tx


@dataclass(frozen=True)
class Window:
    """An open window an event may join."""

    id: str  # the digest notification
    events: int
    max_events: int


def joinable(tx: Tx, tenant_id: str, recipient: str, key: str, now: float) -> Window | None:
    """The recipient's open window for ``key``, if an event at ``now`` may still join it."""
    row = tx.execute(
        "SELECT g.id, g.events, g.max_events FROM digests g"
        " WHERE g.tenant_id = ? AND g.recipient = ? AND g.key = ? AND g.closes_at > ? AND g.events < g.max_events"
        " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = g.id"
        " AND d.status NOT IN ('scheduled', 'suppressed'))",
        (tenant_id, recipient, key, now),
    ).fetchone()
    return None if row is None else Window(row[0], row[1], row[2])


def open_window(
    tx: Tx, tenant_id: str, recipient: str, key: str, digest_id: str, now: float, closes_at: float, max_events: int
) -> Window:
    """Open a window (replacing the recipient's last one for ``key``, which has ended)."""
    tx.execute(
        "INSERT INTO digests (tenant_id, recipient, key, id, opened_at, closes_at, events, max_events)"
        " VALUES (?, ?, ?, ?, ?, ?, 0, ?) ON CONFLICT (tenant_id, recipient, key) DO UPDATE SET"
        " id = excluded.id, opened_at = excluded.opened_at, closes_at = excluded.closes_at, events = 0,"
        " max_events = excluded.max_events",
        (tenant_id, recipient, key, digest_id, now, closes_at, max_events),
    )
    return Window(digest_id, 0, max_events)


def add_event(tx: Tx, tenant_id: str, recipient: str, key: str, window: Window, notification_id: str) -> int:
    """Collect one event into the window; returns how many it holds now."""
    seq = int(
        tx.execute(
            "UPDATE digests SET events = events + 1 WHERE tenant_id = ? AND recipient = ? AND key = ? RETURNING events",
            (tenant_id, recipient, key),
        ).fetchone()[0]
    )
    tx.execute(
        "INSERT INTO digest_events (digest_id, seq, notification_id) VALUES (?, ?, ?)",
        (window.id, seq, notification_id),
    )
    return seq


def close_now(tx: Tx, digest_id: str, now: float) -> set[str]:
    """The window is full: its digest's waiting deliveries are made ready at once; returns
    their channels."""
    rows = tx.execute(
        f"UPDATE jobs SET state = {READY}, run_at = ? WHERE state = {WAITING}"
        " AND delivery_id IN (SELECT id FROM deliveries WHERE notification_id = ?) RETURNING channel",
        (now, digest_id),
    ).fetchall()
    tx.execute(
        "UPDATE deliveries SET status = 'queued', reason = NULL, updated_at = ?"
        " WHERE notification_id = ? AND status = 'scheduled'",
        (now, digest_id),
    )
    return {r[0] for r in rows}


async def events(db: Database, digest_id: str) -> list[dict[str, Any]]:
    """Each collected event's data, oldest first: what the digest's template sees as ``events``."""
    rows = await db.fetchall(
        "SELECT n.data FROM digest_events e JOIN notifications n ON n.id = e.notification_id"
        " WHERE e.digest_id = ? ORDER BY e.seq",
        (digest_id,),
    )
    return [json.loads(r[0]) for r in rows]


async def size(db: Database, digest_id: str) -> int:
    """How many events the digest collected."""
    row = await db.fetchone("SELECT COUNT(*) FROM digest_events WHERE digest_id = ?", (digest_id,))
    return int(row[0]) if row is not None else 0
