"""Bulk batches: the request as accepted, its inline recipients in chunks, and how far its
fan-out has got (``cursor``), so a restart continues where the last step committed.

A fan-out step's writes (``advance``, ``finish``) apply only while the batch is still
fanning out and still at the cursor the step started from: a crash, a restart or a cancel in
between never fans a chunk out twice, nor at all after the cancel.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .database import POSTGRESQL, Database, Tx, dialect
from .users import known_users_sql, parse_users

# Stored statuses; GET shows "fanned_out" as "sending" or "completed" from the counts.
FANNING_OUT = "fanning_out"
FANNED_OUT = "fanned_out"
CANCELLING = "cancelling"
CANCELLED = "cancelled"
FAILED = "failed"
# The user ids among a stored chunk's recipients (those given by address have none).
# SQLite: json_each and ->>; PostgreSQL: json_array_elements.
_CHUNK_USER_IDS = (
    "SELECT value ->> 'user_id' FROM chunk, json_each(chunk.recipients) WHERE value ->> 'user_id' IS NOT NULL"
)
_CHUNK_USER_IDS_PG = (
    "SELECT value ->> 'user_id' FROM chunk, json_array_elements(chunk.recipients::json) AS value"
    " WHERE value ->> 'user_id' IS NOT NULL"
)


_BATCH_COLUMNS = "id, tenant_id, recipients, status, fanned_out, topic, error, created_at"


@dataclass(frozen=True)
class Batch:
    """A stored batch, as GET /v1/batches/{id} shows it before its deliveries are counted."""

    id: str
    tenant_id: str
    recipients: int
    status: str
    fanned_out: int
    topic: str | None
    error: str | None
    created_at: float


@dataclass(frozen=True)
class Unfinished:
    """A batch still to fan out (or to cancel): its request (JSON, without recipients) and
    cursor, the last chunk seq (inline recipients) or user_id (a topic) fanned out."""

    id: str
    tenant_id: str
    request: str
    topic: str | None
    cursor: str | None


@dataclass(frozen=True)
class Chunk:
    """A step's inline recipients (validated JSON objects) and the known users among them."""

    seq: int
    recipients: list[dict[str, Any]]
    users: dict[str, Any]


def insert(
    tx: Tx,
    batch_id: str,
    tenant_id: str,
    request: str,
    topic: str | None,
    recipients: int,
    chunks: list[str],
    dedupe_key: str | None,
    now: float,
) -> tuple[str, int, bool]:
    """Store a batch fanning out, its ``chunks`` (JSON lists of recipients) numbered from 0
    (writer function) → (batch id, recipients, created); a ``dedupe_key`` the tenant already
    used returns the batch stored under it and stores nothing."""
    row = tx.execute(
        "INSERT INTO batches (id, tenant_id, request, topic, recipients, status, dedupe_key, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tenant_id, dedupe_key) DO NOTHING RETURNING id",
        (batch_id, tenant_id, request, topic, recipients, FANNING_OUT, dedupe_key, now, now),
    ).fetchone()
    if row is None:
        first = tx.execute(
            "SELECT id, recipients FROM batches WHERE tenant_id = ? AND dedupe_key = ?", (tenant_id, dedupe_key)
        ).fetchone()
        return first["id"], first["recipients"], False
    tx.executemany(
        "INSERT INTO batch_chunks (batch_id, seq, recipients) VALUES (?, ?, ?)",
        [(batch_id, seq, chunk) for seq, chunk in enumerate(chunks)],
    )
    return batch_id, recipients, True


async def get(db: Database, tenant_id: str, batch_id: str) -> Batch | None:
    row = await db.fetchone(
        f"SELECT {_BATCH_COLUMNS} FROM batches WHERE id = ? AND tenant_id = ?", (batch_id, tenant_id)
    )
    return Batch(*row) if row is not None else None


async def page(db: Database, tenant_id: str, statuses: tuple[str, ...], before: str | None, limit: int) -> list[Batch]:
    """The tenant's batches newest first, before the id ``before``, in one of ``statuses``
    (any, when empty): a walk back along the index (tenant_id, id)."""
    sql = f"SELECT {_BATCH_COLUMNS} FROM batches WHERE tenant_id = ?"
    params: list[Any] = [tenant_id]
    if before is not None:
        sql, params = sql + " AND id < ?", [*params, before]
    if statuses:
        sql, params = sql + f" AND status IN ({', '.join('?' * len(statuses))})", [*params, *statuses]
    rows = await db.fetchall(sql + " ORDER BY id DESC LIMIT ?", (*params, limit))
    return [Batch(*r) for r in rows]


async def delivery_counts(db: Database, batch_id: str) -> dict[str, int]:
    """The batch's deliveries counted by status (one covering-index scan)."""
    rows = await db.fetchall(
        "SELECT status, COUNT(*) AS n FROM deliveries WHERE batch_id = ? GROUP BY status", (batch_id,)
    )
    return {r["status"]: r["n"] for r in rows}


async def unfinished(db: Database, status: str) -> list[Unfinished]:
    """The batches in ``status`` (FANNING_OUT or CANCELLING)."""
    rows = await db.fetchall("SELECT id, tenant_id, request, topic, cursor FROM batches WHERE status = ?", (status,))
    return [Unfinished(*r) for r in rows]


async def chunk_after(db: Database, tenant_id: str, batch_id: str, seq: int) -> Chunk | None:
    """The batch's first chunk after ``seq`` with its known users (as
    :func:`.users.known_users_sql` describes them): one query, so one wait for the event
    loop to take its result."""
    sql_dialect = dialect(db)
    user_ids = _CHUNK_USER_IDS_PG if sql_dialect == POSTGRESQL else _CHUNK_USER_IDS
    row = await db.fetchone(
        "WITH chunk AS MATERIALIZED (SELECT seq, recipients FROM batch_chunks"
        " WHERE batch_id = ?2 AND seq > ?3 ORDER BY seq LIMIT 1)"
        f" SELECT seq, recipients, {known_users_sql(user_ids, sql_dialect)} AS users FROM chunk",
        (tenant_id, batch_id, seq),
    )
    if row is None:
        return None
    return Chunk(row["seq"], json.loads(row["recipients"]), parse_users(row["users"]))


def _cursor_is(tx: Tx) -> str:
    """``cursor`` equals a parameter, NULL included: SQLite says IS, PostgreSQL IS NOT DISTINCT FROM."""
    return "cursor IS NOT DISTINCT FROM ?" if dialect(tx) == POSTGRESQL else "cursor IS ?"


def advance(tx: Tx, batch_id: str, start: str | None, end: str | None, fanned_out: int, now: float) -> bool:
    """Move the cursor from ``start`` to ``end``, counting ``fanned_out`` more recipients
    (writer function); False, changing nothing, when the batch is no longer fanning out at ``start``."""
    return (
        tx.execute(
            "UPDATE batches SET cursor = ?, fanned_out = fanned_out + ?, updated_at = ?"
            f" WHERE id = ? AND status = ? AND {_cursor_is(tx)}",
            (end, fanned_out, now, batch_id, FANNING_OUT, start),
        ).rowcount
        == 1
    )


def finish(tx: Tx, batch_id: str, start: str | None, now: float) -> bool:
    """Mark the batch fanned out and drop its chunks (writer function); False, changing
    nothing, when it is no longer fanning out at ``start``."""
    finished = tx.execute(
        "UPDATE batches SET status = ?, recipients = fanned_out, updated_at = ?"
        f" WHERE id = ? AND status = ? AND {_cursor_is(tx)}",
        (FANNED_OUT, now, batch_id, FANNING_OUT, start),
    ).rowcount
    if finished:
        _drop_chunks(tx, batch_id)
    return finished == 1


def fail(tx: Tx, batch_id: str, error: str, now: float) -> None:
    """Stop a batch fanning out for ``error`` and drop the chunks not fanned out (writer function)."""
    tx.execute(
        "UPDATE batches SET status = ?, error = ?, updated_at = ? WHERE id = ? AND status = ?",
        (FAILED, error, now, batch_id, FANNING_OUT),
    )
    _drop_chunks(tx, batch_id)


def begin_cancel(tx: Tx, tenant_id: str, batch_id: str, now: float) -> str | None:
    """Mark the batch cancelling unless it is cancelled already (writer function); returns its
    status afterwards, or None when it is not the tenant's."""
    row = tx.execute(
        "UPDATE batches SET status = ?, updated_at = ? WHERE id = ? AND tenant_id = ? AND status != ? RETURNING status",
        (CANCELLING, now, batch_id, tenant_id, CANCELLED),
    ).fetchone()
    if row is not None:
        return str(row["status"])
    found = tx.execute("SELECT status FROM batches WHERE id = ? AND tenant_id = ?", (batch_id, tenant_id)).fetchone()
    return found["status"] if found else None


def cancelled(tx: Tx, batch_id: str, now: float) -> None:
    """Mark a cancelling batch cancelled and drop its chunks (writer function)."""
    tx.execute(
        "UPDATE batches SET status = ?, updated_at = ? WHERE id = ? AND status = ?",
        (CANCELLED, now, batch_id, CANCELLING),
    )
    _drop_chunks(tx, batch_id)


def _drop_chunks(tx: Tx, batch_id: str) -> None:
    tx.execute("DELETE FROM batch_chunks WHERE batch_id = ?", (batch_id,))
