"""Cron schedules: the bulk body each firing enqueues, and when it fires next.

A firing commits its batch (storage/bulk_batches.py) together with the schedule's next firing
time (``record_firing``) in one write, so a double firing enqueues nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from .database import Database, Row, Tx

_COLUMNS = (
    "id, tenant_id, name, cron, timezone, request, paused, next_fire_at, last_fire_at, last_batch_id, last_error,"
    " created_at, updated_at"
)


@dataclass(frozen=True)
class Schedule:
    id: str
    tenant_id: str
    name: str
    cron: str
    timezone: str
    request: str  # the bulk body each firing enqueues (JSON)
    paused: bool
    next_fire_at: float | None  # in the past after downtime: one catch-up firing
    last_fire_at: float | None
    last_batch_id: str | None
    last_error: str | None  # why the last firing enqueued nothing
    created_at: float
    updated_at: float


def insert(
    tx: Tx,
    schedule_id: str,
    tenant_id: str,
    name: str,
    cron: str,
    timezone: str,
    request: str,
    first: float,
    now: float,
) -> Schedule:
    """Store an active schedule first firing at ``first`` (writer function)."""
    row = tx.execute(
        "INSERT INTO schedules (id, tenant_id, name, cron, timezone, request, next_fire_at, created_at, updated_at)"
        f" VALUES (?,?,?,?,?,?,?,?,?) RETURNING {_COLUMNS}",
        (schedule_id, tenant_id, name, cron, timezone, request, first, now, now),
    ).fetchone()
    return _schedule(row)


async def get(db: Database, schedule_id: str, tenant_id: str | None = None) -> Schedule | None:
    """The schedule, if it is the tenant's (any tenant's when ``tenant_id`` is None)."""
    scope, params = (" AND tenant_id = ?", (tenant_id,)) if tenant_id is not None else ("", ())
    row = await db.fetchone(f"SELECT {_COLUMNS} FROM schedules WHERE id = ?{scope}", (schedule_id, *params))
    return _schedule(row) if row is not None else None


def get_in(tx: Tx, tenant_id: str, schedule_id: str) -> Schedule | None:
    """The tenant's schedule, read inside the write that changes it (writer function)."""
    row = tx.execute(
        f"SELECT {_COLUMNS} FROM schedules WHERE id = ? AND tenant_id = ?", (schedule_id, tenant_id)
    ).fetchone()
    return _schedule(row) if row is not None else None


async def of_tenant(db: Database, tenant_id: str) -> list[Schedule]:
    rows = await db.fetchall(f"SELECT {_COLUMNS} FROM schedules WHERE tenant_id = ? ORDER BY id", (tenant_id,))
    return [_schedule(r) for r in rows]


async def active(db: Database) -> list[Schedule]:
    """Every tenant's schedules that are not paused."""
    rows = await db.fetchall(f"SELECT {_COLUMNS} FROM schedules WHERE paused = 0")
    return [_schedule(r) for r in rows]


async def due(db: Database, now: float, schedule_id: str | None = None) -> list[tuple[str, float]]:
    """(id, next firing time) of the active schedules (or just this one) due by ``now``."""
    scope, params = (" AND id = ?", (schedule_id,)) if schedule_id else ("", ())
    rows = await db.fetchall(
        f"SELECT id, next_fire_at FROM schedules WHERE paused = 0 AND next_fire_at <= ?{scope}", (now, *params)
    )
    return [(r["id"], r["next_fire_at"]) for r in rows]


def delete(tx: Tx, tenant_id: str, schedule_id: str) -> bool:
    """Delete the tenant's schedule (writer function); False when there was none."""
    return tx.execute("DELETE FROM schedules WHERE id = ? AND tenant_id = ?", (schedule_id, tenant_id)).rowcount == 1


def update(
    tx: Tx,
    tenant_id: str,
    schedule_id: str,
    name: str,
    cron: str,
    timezone: str,
    request: str,
    next_fire_at: float,
    now: float,
) -> Schedule | None:
    """Replace the tenant's schedule's body and timing, keeping whether it is paused and its
    firings so far (writer function); None when it has no such schedule."""
    row = tx.execute(
        "UPDATE schedules SET name = ?, cron = ?, timezone = ?, request = ?, next_fire_at = ?, updated_at = ?"
        f" WHERE id = ? AND tenant_id = ? RETURNING {_COLUMNS}",
        (name, cron, timezone, request, next_fire_at, now, schedule_id, tenant_id),
    ).fetchone()
    return _schedule(row) if row is not None else None


def set_paused(tx: Tx, schedule_id: str, paused: bool, next_fire_at: float | None, now: float) -> Schedule:
    """Pause or resume a schedule, moving its next firing to ``next_fire_at`` unless that is
    None (writer function)."""
    row = tx.execute(
        "UPDATE schedules SET paused = ?, next_fire_at = COALESCE(?, next_fire_at), updated_at = ?"
        f" WHERE id = ? RETURNING {_COLUMNS}",
        (int(paused), next_fire_at, now, schedule_id),
    ).fetchone()
    return _schedule(row)


def record_firing(
    tx: Tx,
    schedule_id: str,
    fire_time: float,
    batch_id: str | None,
    error: str | None,
    following: float | None,
    now: float,
) -> None:
    """A firing at ``fire_time``: its batch (None keeps the last one's), why it enqueued
    nothing, and the next firing time (writer function)."""
    tx.execute(
        "UPDATE schedules SET next_fire_at = ?, last_fire_at = ?, last_batch_id = COALESCE(?, last_batch_id),"
        " last_error = ?, updated_at = ? WHERE id = ?",
        (following, fire_time, batch_id, error, now, schedule_id),
    )


def _schedule(row: Row) -> Schedule:
    return Schedule(**{**dict(row), "paused": bool(row["paused"])})  # paused is stored as 0 or 1
