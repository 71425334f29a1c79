"""The persistent priority queue: one narrow ``jobs`` row per delivery still to be sent.

Jobs are leased, never deleted on claim: a claimed job keeps its row (state LEASED, ``run_at``
= the lease's end) until its outcome is recorded, so a crash returns it to the queue.
Every function here runs inside the single writer (see storage.database) unless it says
otherwise, so each is one atomic step.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

READY, LEASED, WAITING = 0, 1, 2
PRIORITIES: dict[str, int] = {"low": 0, "medium": 1, "high": 2}
# Deliveries a claim takes at once: amortises the commit without starving other channels.
CLAIM_BATCH = 100


@dataclass(frozen=True)
class Job:
    """A claimed delivery with what is needed to send it."""

    job_id: int
    delivery_id: str
    notification_id: str
    tenant_id: str
    channel: str
    attempt: int  # 1 for the first try
    category: str
    priority: str
    user_id: str | None
    recipient: dict[str, Any]
    content: dict[str, Any] | None
    template: str | None
    template_version: int | None
    data: dict[str, Any]


@dataclass(frozen=True)
class Decision:
    """The one state change an attempt leads to (see deliverer.decide)."""

    status: str  # sent, delivered, queued (retry), deferred (not tried, not counted), failed, dead
    outcome: str  # what the attempt row says: sent, delivered, retry, rate_limited, failed, dead, deferred
    provider: str | None = None
    provider_message_id: str | None = None
    error: str | None = None
    retry_at: float | None = None
    # (provider, outcome, error) of tries earlier in the same attempt: fail-overs, other device kinds.
    earlier: tuple[tuple[str, str, str | None], ...] = ()


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


# The claim's two seeks on jobs_claim (channel, state, priority DESC, tenant_id, run_at): each
# fixes a prefix of the index and orders by the next column, so neither sorts
# (PERFORMANCE.md: ~5x); tests/test_storage.py checks both plans.
NEXT_TENANT_SQL = (
    "SELECT tenant_id FROM jobs WHERE channel = ? AND state = ? AND priority = ? AND tenant_id > ?"
    " ORDER BY tenant_id LIMIT 1"
)
TENANT_JOBS_SQL = (
    "SELECT id FROM jobs WHERE channel = ? AND state = ? AND priority = ? AND tenant_id = ?"
    " ORDER BY run_at LIMIT ? OFFSET ?"
)
_LEVELS = sorted(PRIORITIES.values(), reverse=True)
# Waiting jobs one promotion makes ready (see promote_due); due ones first, on jobs_due.
PROMOTE_CHUNK = 2000
# The timer's queries name the state as a literal, not a parameter: only then can SQLite
# see that its partial indexes (jobs_due, jobs_lease_end) cover them.
DUE_SQL = f"SELECT id FROM jobs WHERE state = {WAITING} AND run_at <= ? ORDER BY run_at LIMIT {PROMOTE_CHUNK}"
EXPIRED_LEASES_WHERE = f"state = {LEASED} AND run_at <= ?"


def claim(
    conn: sqlite3.Connection, channel: str, limit: int, now: float, lease_seconds: float, after_tenant: str = ""
) -> list[Job]:
    """Lease up to ``limit`` ready jobs: higher priorities first; within a priority, tenants
    take turns starting after ``after_tenant`` (the last one served), each tenant's jobs
    oldest first. So one tenant's 100k bulk neither delays an OTP nor another tenant's
    messages of its own priority: they are served in the very next claim."""
    ids: list[int] = []
    for priority in _LEVELS:
        if len(ids) >= limit:
            break
        ids += _in_turn(conn, channel, priority, after_tenant, limit - len(ids))
    if not ids:
        return []
    rows = conn.execute(
        f"UPDATE jobs SET state = ?, run_at = ?, attempts = attempts + 1 WHERE id IN ({_placeholders(len(ids))})"
        " RETURNING id, delivery_id, attempts",
        (LEASED, now + lease_seconds, *ids),
    ).fetchall()
    by_delivery = {r["delivery_id"]: r for r in rows}
    deliveries = list(by_delivery)
    conn.execute(
        f"UPDATE deliveries SET status = 'sending', updated_at = ? WHERE id IN ({_placeholders(len(deliveries))})",
        (now, *deliveries),
    )
    payloads = conn.execute(
        "SELECT d.id AS delivery_id, d.tenant_id, n.id AS notification_id, n.category, n.priority,"
        " n.user_id, n.recipient, n.content, n.template, n.template_version, n.data"
        " FROM deliveries d JOIN notifications n ON n.id = d.notification_id"
        f" WHERE d.id IN ({_placeholders(len(deliveries))})",
        deliveries,
    ).fetchall()
    jobs = [
        Job(
            job_id=by_delivery[p["delivery_id"]]["id"],
            delivery_id=p["delivery_id"],
            notification_id=p["notification_id"],
            tenant_id=p["tenant_id"],
            channel=channel,
            attempt=by_delivery[p["delivery_id"]]["attempts"],
            category=p["category"],
            priority=p["priority"],
            user_id=p["user_id"],
            recipient=json.loads(p["recipient"]),
            content=json.loads(p["content"]) if p["content"] else None,
            template=p["template"],
            template_version=p["template_version"],
            data=json.loads(p["data"]),
        )
        for p in payloads
    ]
    # Keep the claim's order (priority, then tenants in turn) for the pool that sends them.
    order = {job_id: i for i, job_id in enumerate(ids)}
    return sorted(jobs, key=lambda j: order[j.job_id])


def _in_turn(conn: sqlite3.Connection, channel: str, priority: int, after_tenant: str, quota: int) -> list[int]:
    """Up to ``quota`` ready job ids of one priority, shared equally among its tenants."""
    tenants = _tenants_from(conn, channel, priority, after_tenant, quota)
    taken: dict[str, int] = dict.fromkeys(tenants, 0)
    ids: list[int] = []
    while quota > 0 and taken:
        share = -(-quota // len(taken))  # ceiling: early turns round up, the rotation evens it out
        for tenant in list(taken):
            want = min(share, quota)
            got = [r[0] for r in conn.execute(TENANT_JOBS_SQL, (channel, READY, priority, tenant, want, taken[tenant]))]
            ids += got
            quota -= len(got)
            if len(got) < want:
                del taken[tenant]  # nothing more to give
            else:
                taken[tenant] += len(got)
            if quota == 0:
                break
    return ids


def _tenants_from(conn: sqlite3.Connection, channel: str, priority: int, after: str, most: int) -> list[str]:
    """Tenants with ready jobs at ``priority``, in turn after ``after`` and round to it again.

    One index seek per tenant (a loose index scan): DISTINCT would read every queued job.
    """
    found: list[str] = []
    cursor, wrapped = after, after == ""
    while len(found) < most:
        row = conn.execute(NEXT_TENANT_SQL, (channel, READY, priority, cursor)).fetchone()
        if row is None or (wrapped and after and row[0] > after):
            if wrapped:
                break
            cursor, wrapped = "", True
            continue
        found.append(row[0])
        cursor = row[0]
    return found


def record(conn: sqlite3.Connection, job: Job, decision: Decision, now: float) -> None:
    """Apply an attempt's decision: attempt row, delivery status, and the job's next state."""
    if decision.status == "deferred":
        defer(conn, job, decision, now)
        return
    conn.executemany(
        "INSERT INTO attempts (delivery_id, at, outcome, error, provider) VALUES (?, ?, ?, ?, ?)",
        [(job.delivery_id, now, outcome, error, provider) for provider, outcome, error in decision.earlier],
    )
    conn.execute(
        "INSERT INTO attempts (delivery_id, at, outcome, error, provider) VALUES (?, ?, ?, ?, ?)",
        (job.delivery_id, now, decision.outcome, decision.error, decision.provider),
    )
    record_delivery(conn, job.delivery_id, decision, now)
    if decision.status == "queued":
        conn.execute(
            "UPDATE jobs SET state = ?, run_at = ?, last_error = ? WHERE id = ?",
            (WAITING, decision.retry_at, decision.error, job.job_id),
        )
        return
    conn.execute("DELETE FROM jobs WHERE id = ?", (job.job_id,))
    if decision.status == "dead":
        # Same transaction as the last failure: a delivery is never both dead and lost.
        conn.execute(
            "INSERT OR REPLACE INTO dead_letters"
            " (delivery_id, tenant_id, notification_id, channel, attempts, last_error, dead_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (job.delivery_id, job.tenant_id, job.notification_id, job.channel, job.attempt, decision.error, now),
        )


def record_delivery(conn: sqlite3.Connection, delivery_id: str, decision: Decision, now: float) -> None:
    """Count one more attempt on the delivery and set its status from the decision."""
    sent = decision.status in ("sent", "delivered")
    conn.execute(
        "UPDATE deliveries SET status = ?, attempts = attempts + 1, updated_at = ?,"
        " provider = COALESCE(?, provider), provider_message_id = COALESCE(?, provider_message_id),"
        " reason = ?, sent_at = CASE WHEN ? THEN ? ELSE sent_at END,"
        " delivered_at = CASE WHEN ? THEN ? ELSE delivered_at END WHERE id = ?",
        (
            decision.status,
            now,
            decision.provider,
            decision.provider_message_id,
            None if sent else decision.error,
            sent,
            now,
            decision.status == "delivered",
            now,
            delivery_id,
        ),
    )


def apply_receipt(
    conn: sqlite3.Connection,
    delivery_id: str,
    status: str,
    reason: str | None,
    event: str,
    error: str | None,
    provider: str,
    now: float,
) -> bool:
    """A provider's later word on a sent delivery: always an attempt event, and the new status
    only when it moves the delivery forward. Sent is the one status a receipt changes;
    delivered and failed are final, so a late "failed" after "delivered" (or the reverse) stays
    an event. Returns whether the status changed."""
    moved = conn.execute(
        "UPDATE deliveries SET status = ?, reason = ?, updated_at = ?,"
        " delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END"
        " WHERE id = ? AND status = 'sent'",
        (status, reason, now, status, now, delivery_id),
    ).rowcount
    conn.execute(
        "INSERT INTO attempts (delivery_id, at, outcome, error, provider) VALUES (?, ?, ?, ?, ?)",
        (delivery_id, now, event, error, provider),
    )
    return bool(moved)


def defer(conn: sqlite3.Connection, job: Job, decision: Decision, now: float) -> None:
    """No provider was tried (circuits open, our own send rate): the job waits until
    ``decision.retry_at``, its claim uncounted and no attempt row written, so attempts
    (and the move to the DLQ) count real tries only; the delivery says why it waits."""
    conn.execute(
        "UPDATE jobs SET state = ?, run_at = ?, attempts = attempts - 1, last_error = ? WHERE id = ?",
        (WAITING, decision.retry_at, decision.error, job.job_id),
    )
    conn.execute(
        "UPDATE deliveries SET status = 'queued', reason = ?, updated_at = ? WHERE id = ?",
        (decision.error, now, job.delivery_id),
    )


def release(conn: sqlite3.Connection, jobs: list[Job], now: float) -> None:
    """Give back leased jobs that were never attempted (shutdown): their try does not count."""
    for job in jobs:
        conn.execute(
            "UPDATE jobs SET state = ?, run_at = ?, attempts = attempts - 1 WHERE id = ? AND state = ?",
            (READY, now, job.job_id, LEASED),
        )
        conn.execute(
            "UPDATE deliveries SET status = 'queued', updated_at = ? WHERE id = ? AND status = 'sending'",
            (now, job.delivery_id),
        )


def expire_leases(conn: sqlite3.Connection, now: float | None) -> set[str]:
    """Return leased jobs whose lease ended (or all of them, ``now=None``) to the queue.

    ``now=None`` is for start-up: the data-dir lock guarantees no other process holds a lease.
    Returns the channels that got jobs back.
    """
    cond, params = (f"state = {LEASED}", []) if now is None else (EXPIRED_LEASES_WHERE, [now])
    rows = conn.execute(
        f"UPDATE jobs SET state = {READY} WHERE {cond} RETURNING delivery_id, channel", params
    ).fetchall()
    for row in rows:
        conn.execute(
            "UPDATE deliveries SET status = 'queued' WHERE id = ? AND status = 'sending'", (row["delivery_id"],)
        )
    return {r["channel"] for r in rows}


def promote_due(conn: sqlite3.Connection, now: float) -> dict[str, int]:
    """Up to PROMOTE_CHUNK waiting jobs whose time has come become ready; returns how many
    per channel. Set-based, a statement each however many: a scheduled bulk falls due all at
    once, and the timer comes straight back for the rest, so the writer is never held long."""
    conn.execute(
        "UPDATE deliveries SET status = 'queued', updated_at = ? WHERE status = 'scheduled'"
        f" AND id IN (SELECT delivery_id FROM jobs WHERE id IN ({DUE_SQL}))",
        (now, now),
    )
    counts = conn.execute(f"SELECT channel, COUNT(*) FROM jobs WHERE id IN ({DUE_SQL}) GROUP BY channel", (now,))
    promoted = {channel: n for channel, n in counts}
    conn.execute(f"UPDATE jobs SET state = {READY} WHERE id IN ({DUE_SQL})", (now,))
    return promoted


def cancel(conn: sqlite3.Connection, tenant_id: str, notification_id: str, now: float) -> list[str] | None:
    """Cancel what has not started; None when the notification is not the tenant's."""
    if not conn.execute(
        "SELECT 1 FROM notifications WHERE id = ? AND tenant_id = ?", (notification_id, tenant_id)
    ).fetchone():
        return None
    return _cancel(
        conn,
        "SELECT id FROM deliveries WHERE notification_id = ? AND status IN ('scheduled', 'queued')",
        (notification_id,),
        now,
    )


def cancel_batch(conn: sqlite3.Connection, batch_id: str, limit: int, now: float) -> list[str]:
    """Cancel up to ``limit`` of a batch's deliveries that have not started; call it until it
    returns none, so a 100k batch never holds the writer for long."""
    return _cancel(
        conn,
        "SELECT id FROM deliveries WHERE batch_id = ? AND status IN ('scheduled', 'queued') LIMIT ?",
        (batch_id, limit),
        now,
    )


def _cancel(conn: sqlite3.Connection, deliveries_sql: str, params: tuple[Any, ...], now: float) -> list[str]:
    """Cancel the deliveries ``deliveries_sql`` selects, unless a worker holds their job."""
    rows = conn.execute(
        f"DELETE FROM jobs WHERE state != ? AND delivery_id IN ({deliveries_sql}) RETURNING delivery_id",
        (LEASED, *params),
    ).fetchall()
    cancelled = [r["delivery_id"] for r in rows]
    conn.execute(
        "UPDATE deliveries SET status = 'cancelled', reason = 'cancelled by request', updated_at = ?"
        " WHERE id IN (SELECT value FROM json_each(?))",
        (now, json.dumps(cancelled)),
    )
    return cancelled


def replay(
    conn: sqlite3.Connection, delivery_id: str, now: float, tenant_id: str | None = None
) -> dict[str, Any] | None:
    """Move a dead delivery back to the queue with a fresh set of attempts."""
    scope, params = ("AND tenant_id = ?", [tenant_id]) if tenant_id else ("", [])
    dead = conn.execute(
        f"DELETE FROM dead_letters WHERE delivery_id = ? {scope}"
        " RETURNING delivery_id, tenant_id, notification_id, channel",
        (delivery_id, *params),
    ).fetchone()
    if dead is None:
        return None
    priority = conn.execute("SELECT priority FROM notifications WHERE id = ?", (dead["notification_id"],)).fetchone()[
        "priority"
    ]
    conn.execute(
        "INSERT INTO jobs (delivery_id, tenant_id, channel, priority, state, run_at, attempts)"
        " VALUES (?, ?, ?, ?, ?, ?, 0)",
        (delivery_id, dead["tenant_id"], dead["channel"], PRIORITIES[priority], READY, now),
    )
    conn.execute(
        "UPDATE deliveries SET status = 'queued', reason = NULL, updated_at = ? WHERE id = ?", (now, delivery_id)
    )
    return dict(dead)


def delete_dead(conn: sqlite3.Connection, tenant_id: str, delivery_id: str) -> bool:
    return (
        conn.execute(
            "DELETE FROM dead_letters WHERE delivery_id = ? AND tenant_id = ?", (delivery_id, tenant_id)
        ).rowcount
        > 0
    )
