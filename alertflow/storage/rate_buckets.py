"""Token buckets in the database, so that every node of a cluster draws from the same one.

``take`` runs in the write transaction and holds the bucket's row for its rest: the upsert
that reads the row locks it on PostgreSQL, so two nodes taking at once queue on the row
rather than both spending the same tokens. (SQLite has one writer: nothing to lock.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .database import Tx


@dataclass(frozen=True)
class Taken:
    """``granted`` tokens (0 to the ``want`` asked); with none, the seconds until one is there."""

    granted: int
    wait: float


def take(tx: Tx, name: str, key: str, rate: float, burst: float, want: int, now: float) -> Taken:
    """Take up to ``want`` whole tokens from the (``name``, ``key``) bucket, which refills at
    ``rate`` a second up to ``burst`` (writer function). A refusal takes nothing."""
    row = tx.execute(
        "INSERT INTO rate_buckets (name, key, tokens, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (name, key) DO UPDATE SET tokens = rate_buckets.tokens RETURNING tokens, updated_at",
        (name, key, burst, now),
    ).fetchone()
    # A node whose clock is behind the last writer's adds nothing and moves the time back for no one.
    updated = max(now, row["updated_at"])
    tokens = min(burst, row["tokens"] + max(0.0, now - row["updated_at"]) * rate)
    granted = min(want, math.floor(tokens)) if tokens >= 1 else 0
    tokens -= granted
    tx.execute(
        "UPDATE rate_buckets SET tokens = ?, updated_at = ? WHERE name = ? AND key = ?", (tokens, updated, name, key)
    )
    return Taken(granted, 0.0 if granted else (1 - tokens) / rate)
