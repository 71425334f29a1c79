"""A tenant's status-webhook endpoints and every attempt to reach one (README "Status webhooks").

Secrets arrive and leave sealed (providers/sealing.py): storage never sees them in the clear.
An endpoint is disabled when it has failed without a success for the time the caller gives
(``[webhooks] disable_after_hours``), in the same write as the attempt that shows it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .database import Database, Tx

DISABLED_BY_REQUEST = "disabled by request"
COLUMNS = (
    "id, tenant_id, url, events, description, secret, previous_secret, previous_until, failing_since,"
    " disabled_at, disabled_reason, created_at, updated_at"
)


@dataclass(frozen=True)
class Endpoint:
    """One endpoint as stored; ``secret`` and ``previous_secret`` are sealed."""

    id: str
    tenant_id: str
    url: str
    events: tuple[str, ...]
    description: str | None
    secret: str
    previous_secret: str | None
    previous_until: float | None
    failing_since: float | None
    disabled_at: float | None
    disabled_reason: str | None
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class AttemptRow:
    """One try to POST an event to an endpoint: its HTTP status (None when no reply came),
    how long it took and why it failed (None on a 2xx)."""

    endpoint_id: str
    tenant_id: str
    event_id: str
    event_type: str
    at: float
    status_code: int | None
    latency_ms: float | None
    error: str | None


def _endpoint(row: Any) -> Endpoint:
    values = dict(row)
    values["events"] = tuple(json.loads(values["events"]))
    return Endpoint(**values)


def add(tx: Tx, endpoint: Endpoint) -> None:
    e = endpoint
    tx.execute(
        f"INSERT INTO webhook_endpoints ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            e.id,
            e.tenant_id,
            e.url,
            json.dumps(list(e.events)),
            e.description,
            e.secret,
            e.previous_secret,
            e.previous_until,
            e.failing_since,
            e.disabled_at,
            e.disabled_reason,
            e.created_at,
            e.updated_at,
        ),
    )


def update(
    tx: Tx,
    tenant_id: str,
    endpoint_id: str,
    now: float,
    url: str | None = None,
    events: tuple[str, ...] | None = None,
    description: str | None = None,
    enabled: bool | None = None,
) -> Endpoint | None:
    """Change what is given (None keeps it): ``enabled`` True clears a disablement and the
    failure streak, False disables (keeping an earlier disablement's reason). Returns the
    endpoint as it now is, or None when the tenant has no such one."""
    sets: list[str] = ["updated_at = ?"]
    params: list[Any] = [now]
    for column, value in (("url", url), ("description", description)):
        if value is not None:
            sets.append(f"{column} = ?")
            params.append(value)
    if events is not None:
        sets.append("events = ?")
        params.append(json.dumps(list(events)))
    if enabled is True:
        sets.append("disabled_at = NULL, disabled_reason = NULL, failing_since = NULL")
    elif enabled is False:
        sets.append("disabled_at = COALESCE(disabled_at, ?), disabled_reason = COALESCE(disabled_reason, ?)")
        params += [now, DISABLED_BY_REQUEST]
    row = tx.execute(
        f"UPDATE webhook_endpoints SET {', '.join(sets)} WHERE id = ? AND tenant_id = ? RETURNING {COLUMNS}",
        (*params, endpoint_id, tenant_id),
    ).fetchone()
    return None if row is None else _endpoint(row)


def rotate(tx: Tx, tenant_id: str, endpoint_id: str, secret: str, previous_until: float, now: float) -> bool:
    """Sign with ``secret`` from now on, and with the current one as well until ``previous_until``."""
    return (
        tx.execute(
            "UPDATE webhook_endpoints SET previous_secret = secret, previous_until = ?, secret = ?, updated_at = ?"
            " WHERE id = ? AND tenant_id = ?",
            (previous_until, secret, now, endpoint_id, tenant_id),
        ).rowcount
        > 0
    )


def delete(tx: Tx, tenant_id: str, endpoint_id: str) -> bool:
    """Remove the endpoint and its attempts; its events still queued fail when they come up."""
    gone = tx.execute("DELETE FROM webhook_endpoints WHERE id = ? AND tenant_id = ?", (endpoint_id, tenant_id))
    if gone.rowcount == 0:
        return False
    tx.execute("DELETE FROM webhook_attempts WHERE endpoint_id = ?", (endpoint_id,))
    return True


def subscribed(tx: Tx, tenant_id: str) -> dict[str, tuple[str, ...]]:
    """The tenant's enabled endpoints, each with the event types it takes (read in the writer,
    where an event is recorded with the change it reports)."""
    rows = tx.execute(
        "SELECT id, events FROM webhook_endpoints WHERE tenant_id = ? AND disabled_at IS NULL ORDER BY id",
        (tenant_id,),
    ).fetchall()
    return {r["id"]: tuple(json.loads(r["events"])) for r in rows}


def record_attempt(tx: Tx, attempt: AttemptRow, disable_after: float | None, reason: str) -> bool:
    """Store one attempt and follow the endpoint's failure streak: a success ends it, a
    failure starts it or, once it has lasted ``disable_after`` seconds (None: never),
    disables the endpoint with ``reason``. Returns whether this attempt disabled it."""
    a = attempt
    tx.execute(
        "INSERT INTO webhook_attempts (endpoint_id, tenant_id, event_id, event_type, at, status_code, latency_ms,"
        " error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (a.endpoint_id, a.tenant_id, a.event_id, a.event_type, a.at, a.status_code, a.latency_ms, a.error),
    )
    if a.error is None:
        tx.execute("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = ?", (a.endpoint_id,))
        return False
    tx.execute(
        "UPDATE webhook_endpoints SET failing_since = COALESCE(failing_since, ?) WHERE id = ?", (a.at, a.endpoint_id)
    )
    if disable_after is None:
        return False
    disabled = tx.execute(
        "UPDATE webhook_endpoints SET disabled_at = ?, disabled_reason = ?, updated_at = ?"
        " WHERE id = ? AND disabled_at IS NULL AND failing_since <= ?",
        (a.at, reason, a.at, a.endpoint_id, a.at - disable_after),
    )
    return disabled.rowcount > 0


async def get(db: Database, tenant_id: str, endpoint_id: str) -> Endpoint | None:
    row = await db.fetchone(
        f"SELECT {COLUMNS} FROM webhook_endpoints WHERE id = ? AND tenant_id = ?", (endpoint_id, tenant_id)
    )
    return None if row is None else _endpoint(row)


async def all_for(db: Database, tenant_id: str) -> list[Endpoint]:
    rows = await db.fetchall(f"SELECT {COLUMNS} FROM webhook_endpoints WHERE tenant_id = ? ORDER BY id", (tenant_id,))
    return [_endpoint(r) for r in rows]


async def attempts(db: Database, endpoint_id: str, limit: int, before: int | None) -> list[tuple[int, AttemptRow]]:
    """Up to ``limit`` attempts newest first, with their ids; ``before`` is the previous page's last id."""
    where, params = "endpoint_id = ?", list[Any]([endpoint_id])
    if before is not None:
        where += " AND id < ?"
        params.append(before)
    rows = await db.fetchall(
        "SELECT id, endpoint_id, tenant_id, event_id, event_type, at, status_code, latency_ms, error"
        f" FROM webhook_attempts WHERE {where} ORDER BY id DESC LIMIT ?",
        (*params, limit),
    )
    return [(r["id"], AttemptRow(*tuple(r)[1:])) for r in rows]
