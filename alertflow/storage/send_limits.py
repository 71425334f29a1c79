"""Throttle and dedupe counters (the ``send_limits`` table): per tenant, recipient, kind and
key, a fixed window that opens with its first event. Counted in the writer, so concurrent
publishes never both pass a limit."""

from __future__ import annotations

from .database import Tx


def count(tx: Tx, tenant_id: str, recipient: str, kind: str, key: str, window_seconds: float, now: float) -> int:
    """Count one more event in the current window (a window that has ended starts again at
    ``now``); returns the events counted in it so far, this one included (writer function)."""
    row = tx.execute(
        "INSERT INTO send_limits (tenant_id, recipient, kind, key, opened_at, count) VALUES (?, ?, ?, ?, ?, 1)"
        " ON CONFLICT (tenant_id, recipient, kind, key) DO UPDATE SET"
        " count = CASE WHEN send_limits.opened_at + ? <= excluded.opened_at THEN 1 ELSE send_limits.count + 1 END,"
        " opened_at = CASE WHEN send_limits.opened_at + ? <= excluded.opened_at"
        " THEN excluded.opened_at ELSE send_limits.opened_at END"
        " RETURNING count",
        (tenant_id, recipient, kind, key, now, window_seconds, window_seconds),
    ).fetchone()
    return int(row[0])
