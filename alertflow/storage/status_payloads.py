"""What a status webhook reports, read in the writer beside the change it reports
(delivery/status_events.py): a delivery with its attempts, and the inbox items a read-all
marked. Read only for tenants with an endpoint that takes the event."""

from __future__ import annotations

from typing import Any

from .bulk_batches import FANNED_OUT, Batch
from .database import POSTGRESQL, Tx, dialect
from .inbox_items import COLUMNS as INBOX_COLUMNS
from .inbox_items import _shape as inbox_item


def delivery(tx: Tx, delivery_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    """A delivery's row and its attempt events, oldest first; None when it is gone."""
    row = tx.execute("SELECT * FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
    if row is None:
        return None
    # SQLite: rowid is the order of insertion (several events share one ``at``); PostgreSQL's
    # table has an identity column for it.
    order = "id" if dialect(tx) == POSTGRESQL else "rowid"
    events = tx.execute(
        f"SELECT delivery_id, at, outcome, error, provider FROM attempts WHERE delivery_id = ? ORDER BY {order}",
        (delivery_id,),
    ).fetchall()
    return dict(row), [dict(e) for e in events]


def read_at(tx: Tx, tenant_id: str, user_id: str, at: float) -> list[dict[str, Any]]:
    """The user's visible items read at exactly ``at``: those a read-all just marked."""
    rows = tx.execute(
        f"SELECT {INBOX_COLUMNS} FROM inbox WHERE tenant_id = ? AND user_id = ? AND archived_at IS NULL"
        " AND read_at = ? ORDER BY id",
        (tenant_id, user_id, at),
    ).fetchall()
    return [inbox_item(r) for r in rows]


def batch_of(tx: Tx, delivery_id: str) -> str | None:
    row = tx.execute("SELECT batch_id FROM deliveries WHERE id = ?", (delivery_id,)).fetchone()
    return None if row is None else row["batch_id"]


def finished_batch(tx: Tx, batch_id: str, unsent: tuple[str, ...]) -> tuple[Batch, dict[str, int]] | None:
    """The batch and its deliveries by status, when it has fanned out and none of its
    deliveries is in ``unsent`` any more; None while one is (one index seek to tell)."""
    row = tx.execute(
        "SELECT id, tenant_id, recipients, status, fanned_out, topic, error, created_at FROM batches"
        " WHERE id = ? AND status = ?",
        (batch_id, FANNED_OUT),
    ).fetchone()
    if row is None:
        return None
    marks = ",".join("?" * len(unsent))
    pending = tx.execute(
        f"SELECT 1 FROM deliveries WHERE batch_id = ? AND status IN ({marks}) LIMIT 1", (batch_id, *unsent)
    ).fetchone()
    if pending is not None:
        return None
    counts = tx.execute("SELECT status, COUNT(*) AS n FROM deliveries WHERE batch_id = ? GROUP BY status", (batch_id,))
    return Batch(*row), {r["status"]: r["n"] for r in counts}
