"""The queue's storage: one narrow ``jobs`` row per delivery still to be sent, and the
dead letters. Jobs are leased, never deleted on claim (see delivery/queue.py); each write
here runs in the writer (``tx``) as one atomic step, reads take the database.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..delivery.queue import LEASED, PRIORITIES, READY, WAITING, Decision, Job
from . import deliveries
from .database import POSTGRESQL, Database, Tx, dialect


def _placeholders(n: int) -> str:
    return ",".join("?" * n)


# The claim's seeks on jobs_claim (channel, state, priority DESC, tenant_id, run_at): each
# fixes a prefix of the index and orders by the next column, so none sorts
# (PERFORMANCE.md: ~5x); tests/test_storage.py checks the plans. They name the ready state as
# a literal (see DUE_SQL): compared with a parameter, SQLite checks the parameter's value
# against the partial indexes' states, and so prepares the statement anew each time it is
# bound: a tenth of an SMTP drain's work.


def _next_after(priority: str, after: str) -> str:
    """The next tenant in turn at ``priority`` (SQL expressions both): the first after
    ``after``, else the first of all (round again). One expression, as every read in a
    PostgreSQL group is a round trip of its own, and the turn's wrap took two."""
    return (
        f"COALESCE((SELECT tenant_id FROM jobs WHERE channel = ?1 AND state = {READY} AND priority = {priority}"
        f" AND tenant_id > {after} ORDER BY tenant_id LIMIT 1),"
        f" (SELECT tenant_id FROM jobs WHERE channel = ?1 AND state = {READY} AND priority = {priority}"
        " ORDER BY tenant_id LIMIT 1))"
    )


NEXT_TENANT_SQL = "SELECT " + _next_after("?2", "?3")
# Where each priority's turn starts: per level, the first tenant in turn after ?2 and the one
# after that, both wrapping round. One statement for every level, where a read per level (and
# one more per level to see the turn wrap) had been a round trip each on PostgreSQL. Empty
# levels give NULLs. The level comes from a constant row.
TURNS_SQL = (
    "SELECT turns.p, turns.first, "
    + _next_after("turns.p", "turns.first")
    + " FROM (SELECT levels.p, "
    + _next_after("levels.p", "?2")
    + " AS first FROM ("
    + " UNION ALL ".join(f"SELECT {level} AS p" for level in sorted(PRIORITIES.values(), reverse=True))
    + ") AS levels) AS turns"
)
# With what the claim's UPDATE would otherwise have to return (a read: on PostgreSQL a round trip).
TENANT_JOBS_SQL = (
    f"SELECT id, delivery_id, attempts FROM jobs WHERE channel = ? AND state = {READY} AND priority = ?"
    " AND tenant_id = ? ORDER BY run_at LIMIT ? OFFSET ?"
)
# PostgreSQL: other nodes claim at the same time; each skips the jobs another's claim holds.
TENANT_JOBS_SQL_PG = TENANT_JOBS_SQL + " FOR UPDATE SKIP LOCKED"
_LEVELS = sorted(PRIORITIES.values(), reverse=True)
# Waiting jobs one promotion makes ready (see promote_due); due ones first, on jobs_due.
PROMOTE_CHUNK = 2000
# The timer's queries name the state as a literal, not a parameter: only then can SQLite
# see that its partial indexes (jobs_due, jobs_lease_end) cover them.
DUE_SQL = f"SELECT id FROM jobs WHERE state = {WAITING} AND run_at <= ? ORDER BY run_at LIMIT {PROMOTE_CHUNK}"
EXPIRED_LEASES_WHERE = f"state = {LEASED} AND run_at <= ?"
# Start-up's question, asked once: it reads every lease (jobs_lease_end), which are few.
OWN_OR_EXPIRED_WHERE = f"state = {LEASED} AND (run_at <= ? OR lease_owner = ?)"


def claim(
    tx: Tx,
    channel: str,
    limit: int,
    now: float,
    lease_seconds: float,
    after_tenant: str = "",
    owner: str | None = None,
) -> list[Job]:
    """Lease up to ``limit`` ready jobs: higher priorities first; within a priority, tenants
    take turns starting after ``after_tenant`` (the last one served), each tenant's jobs
    oldest first. So one tenant's 100k bulk neither delays an OTP nor another tenant's
    messages of its own priority: they are served in the very next claim. ``owner`` is the
    claiming node's id, which lease recovery at its next start goes by (expire_leases)."""
    taken: list[tuple[int, str, int]] = []  # (job id, delivery id, attempts before this claim)
    turns = {row[0]: (row[1], row[2]) for row in tx.execute(TURNS_SQL, (channel, after_tenant))}
    for priority in _LEVELS:
        if len(taken) >= limit:
            break
        if turns[priority][0] is not None:
            taken += _in_turn(tx, channel, priority, turns[priority], limit - len(taken))
    if not taken:
        return []
    ids = [job_id for job_id, _, _ in taken]
    tx.execute(
        f"UPDATE jobs SET state = ?, run_at = ?, attempts = attempts + 1, lease_owner = ?"
        f" WHERE id IN ({_placeholders(len(ids))})",
        (LEASED, now + lease_seconds, owner, *ids),
    )
    by_delivery = {delivery_id: (job_id, attempts + 1) for job_id, delivery_id, attempts in taken}
    deliveries = list(by_delivery)
    tx.execute(
        f"UPDATE deliveries SET status = 'sending', updated_at = ? WHERE id IN ({_placeholders(len(deliveries))})",
        (now, *deliveries),
    )
    payloads = tx.execute(
        "SELECT d.id AS delivery_id, d.tenant_id, n.id AS notification_id, n.category, n.priority,"
        " n.user_id, n.recipient, n.content, n.template, n.template_version, n.data, n.options"
        " FROM deliveries d JOIN notifications n ON n.id = d.notification_id"
        f" WHERE d.id IN ({_placeholders(len(deliveries))})",
        deliveries,
    ).fetchall()
    jobs = [
        Job(
            job_id=by_delivery[p["delivery_id"]][0],
            delivery_id=p["delivery_id"],
            notification_id=p["notification_id"],
            tenant_id=p["tenant_id"],
            channel=channel,
            attempt=by_delivery[p["delivery_id"]][1],
            category=p["category"],
            priority=p["priority"],
            user_id=p["user_id"],
            recipient=json.loads(p["recipient"]),
            content=json.loads(p["content"]) if p["content"] else None,
            template=p["template"],
            template_version=p["template_version"],
            data=json.loads(p["data"]),
            options=json.loads(p["options"]) if p["options"] else None,
        )
        for p in payloads
    ]
    # Keep the claim's order (priority, then tenants in turn) for the pool that sends them.
    order = {job_id: i for i, job_id in enumerate(ids)}
    return sorted(jobs, key=lambda j: order[j.job_id])


def _in_turn(tx: Tx, channel: str, priority: int, turn: tuple[str, str], quota: int) -> list[tuple[int, str, int]]:
    """Up to ``quota`` ready jobs of one priority, shared equally among its tenants, ``turn``
    the first two in turn (TURNS_SQL): (job id, delivery id, attempts so far)."""
    tenants = _tenants_from(tx, channel, priority, turn, quota)
    taken: dict[str, int] = dict.fromkeys(tenants, 0)
    ids: list[tuple[int, str, int]] = []
    sql = TENANT_JOBS_SQL_PG if dialect(tx) == POSTGRESQL else TENANT_JOBS_SQL
    while quota > 0 and taken:
        share = -(-quota // len(taken))  # ceiling: early turns round up, the rotation evens it out
        for tenant in list(taken):
            want = min(share, quota)
            got = [(r[0], r[1], r[2]) for r in tx.execute(sql, (channel, priority, tenant, want, taken[tenant]))]
            ids += got
            quota -= len(got)
            if len(got) < want:
                del taken[tenant]  # nothing more to give
            else:
                taken[tenant] += len(got)
            if quota == 0:
                break
    return ids


def _tenants_from(tx: Tx, channel: str, priority: int, turn: tuple[str, str], most: int) -> list[str]:
    """Tenants with ready jobs at ``priority`` in turn, from the first two of ``turn`` round to
    the first again, at most ``most``. One index seek per tenant past the second (a loose
    index scan): DISTINCT would read every queued job. A level with one tenant reads nothing."""
    first, tenant = turn
    found = [first]
    while len(found) < most and tenant is not None and tenant != first:  # not yet round to the first
        found.append(tenant)
        if len(found) < most:
            tenant = tx.execute(NEXT_TENANT_SQL, (channel, priority, tenant)).fetchone()[0]
    return found


def record(tx: Tx, job: Job, decision: Decision, now: float) -> None:
    """Apply an attempt's decision: attempt rows, delivery status, and the job's next state."""
    record_all(tx, [(job, decision, now)])


# An attempt to record: its job, what was decided, and when.
Attempted = tuple[Job, Decision, float]

DEAD_LETTER_SQL = (
    "INSERT INTO dead_letters"
    " (delivery_id, tenant_id, notification_id, channel, attempts, last_error, dead_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (delivery_id) DO UPDATE SET"
    " tenant_id = excluded.tenant_id, notification_id = excluded.notification_id,"
    " channel = excluded.channel, attempts = excluded.attempts, last_error = excluded.last_error,"
    " dead_at = excluded.dead_at"
)


def record_all(tx: Tx, attempted: Sequence[Attempted]) -> None:
    """:func:`record` for several attempts (a pool's cycle), each statement once for all of
    them, not once per attempt: the attempt rows in one INSERT and the finished jobs in one
    DELETE, the rest an executemany of a row each. On PostgreSQL every statement (and every
    row of an executemany) is a result for the writer thread to take, on SQLite a hand-over of
    the GIL as well."""
    tried: list[Attempted] = []
    for job, decision, now in attempted:
        if decision.status == "deferred":  # rare: circuits open, our own send rate
            defer(tx, job, decision, now)
        else:
            tried.append((job, decision, now))
    deliveries.add_events_of(
        tx,
        [
            (job.delivery_id, now, outcome, error, provider)
            for job, decision, now in tried
            for provider, outcome, error in (*decision.earlier, (decision.provider, decision.outcome, decision.error))
        ],
    )
    deliveries.set_outcomes(
        tx, [(job.delivery_id, d.status, d.provider, d.provider_message_id, d.error, now) for job, d, now in tried]
    )
    # By delivery, not by the job's row id: a send that outlived its lease is recorded after
    # its second try deleted the row, and SQLite gives a row id out again once the table is
    # empty. The delivery id is never reused, so a late outcome changes no other job.
    requeued = [(WAITING, d.retry_at, d.error, job.delivery_id) for job, d, _ in tried if d.status == "queued"]
    if requeued:
        tx.executemany(
            "UPDATE jobs SET state = ?, run_at = ?, last_error = ?, lease_owner = NULL WHERE delivery_id = ?",
            requeued,
        )
    finished = [job.delivery_id for job, d, _ in tried if d.status != "queued"]
    if finished:
        tx.execute(f"DELETE FROM jobs WHERE delivery_id IN ({_placeholders(len(finished))})", finished)
    # Same transaction as the last failure: a delivery is never both dead and lost.
    dead = [
        (job.delivery_id, job.tenant_id, job.notification_id, job.channel, job.attempt, d.error, now)
        for job, d, now in tried
        if d.status == "dead"
    ]
    if dead:
        tx.executemany(DEAD_LETTER_SQL, dead)


def defer(tx: Tx, job: Job, decision: Decision, now: float) -> None:
    """No provider was tried (circuits open, our own send rate): the job waits until
    ``decision.retry_at``, its claim uncounted and no attempt row written, so attempts
    (and the move to the DLQ) count real tries only; the delivery says why it waits."""
    tx.execute(
        "UPDATE jobs SET state = ?, run_at = ?, attempts = attempts - 1, last_error = ?, lease_owner = NULL"
        " WHERE delivery_id = ?",  # not its row id: see record_all
        (WAITING, decision.retry_at, decision.error, job.delivery_id),
    )
    tx.execute(
        "UPDATE deliveries SET status = 'queued', reason = ?, updated_at = ? WHERE id = ?",
        (decision.error, now, job.delivery_id),
    )


def release(tx: Tx, jobs: list[Job], now: float) -> None:
    """Give back leased jobs that were never attempted (shutdown): their try does not count."""
    for job in jobs:
        tx.execute(
            "UPDATE jobs SET state = ?, run_at = ?, attempts = attempts - 1, lease_owner = NULL"
            f" WHERE delivery_id = ? AND state = {LEASED}",  # not its row id: see record_all
            (READY, now, job.delivery_id),
        )
        tx.execute(
            "UPDATE deliveries SET status = 'queued', updated_at = ? WHERE id = ? AND status = 'sending'",
            (now, job.delivery_id),
        )


def expire_leases(tx: Tx, now: float, owner: str | None = None) -> set[str]:
    """Return leased jobs whose lease ended to the queue, and those ``owner`` holds however
    long their lease still runs: at start-up a node's own leases are a crash's leftovers (no
    send of its own is in flight yet), while another node's may still be sending.
    Returns the channels that got jobs back.
    """
    cond, params = (EXPIRED_LEASES_WHERE, [now]) if owner is None else (OWN_OR_EXPIRED_WHERE, [now, owner])
    rows = tx.execute(
        f"UPDATE jobs SET state = {READY}, lease_owner = NULL WHERE {cond} RETURNING delivery_id, channel", params
    ).fetchall()
    for row in rows:
        tx.execute("UPDATE deliveries SET status = 'queued' WHERE id = ? AND status = 'sending'", (row["delivery_id"],))
    return {r["channel"] for r in rows}


def promote_due(tx: Tx, now: float) -> dict[str, int]:
    """Up to PROMOTE_CHUNK waiting jobs whose time has come become ready; returns how many
    per channel. Set-based, a statement each however many: a scheduled bulk falls due all at
    once, and the timer comes straight back for the rest, so the writer is never held long."""
    tx.execute(
        "UPDATE deliveries SET status = 'queued', updated_at = ? WHERE status = 'scheduled'"
        f" AND id IN (SELECT delivery_id FROM jobs WHERE id IN ({DUE_SQL}))",
        (now, now),
    )
    counts = tx.execute(f"SELECT channel, COUNT(*) FROM jobs WHERE id IN ({DUE_SQL}) GROUP BY channel", (now,))
    promoted = {channel: n for channel, n in counts}
    tx.execute(f"UPDATE jobs SET state = {READY} WHERE id IN ({DUE_SQL})", (now,))
    return promoted


def cancel(tx: Tx, tenant_id: str, notification_id: str, now: float) -> list[str] | None:
    """Cancel what has not started; None when the notification is not the tenant's."""
    if not tx.execute(
        "SELECT 1 FROM notifications WHERE id = ? AND tenant_id = ?", (notification_id, tenant_id)
    ).fetchone():
        return None
    return _cancel(
        tx,
        "SELECT id FROM deliveries WHERE notification_id = ? AND status IN ('scheduled', 'queued')",
        (notification_id,),
        now,
    )


def cancel_batch(tx: Tx, batch_id: str, limit: int, now: float) -> list[str]:
    """Cancel up to ``limit`` of a batch's deliveries that have not started; call it until it
    returns none, so a 100k batch never holds the writer for long."""
    return _cancel(
        tx,
        "SELECT id FROM deliveries WHERE batch_id = ? AND status IN ('scheduled', 'queued') LIMIT ?",
        (batch_id, limit),
        now,
    )


def _cancel(tx: Tx, deliveries_sql: str, params: tuple[Any, ...], now: float) -> list[str]:
    """Cancel the deliveries ``deliveries_sql`` selects, unless a worker holds their job."""
    rows = tx.execute(
        f"DELETE FROM jobs WHERE state != ? AND delivery_id IN ({deliveries_sql}) RETURNING delivery_id",
        (LEASED, *params),
    ).fetchall()
    cancelled = [r["delivery_id"] for r in rows]
    # SQLite: json_each binds the whole list as one value, however long (no variable limit).
    ids = "json_array_elements_text(?::json)" if dialect(tx) == POSTGRESQL else "value FROM json_each(?)"
    tx.execute(
        "UPDATE deliveries SET status = 'cancelled', reason = 'cancelled by request', updated_at = ?"
        f" WHERE id IN (SELECT {ids})",
        (now, json.dumps(cancelled)),
    )
    return cancelled


def replay(tx: Tx, delivery_id: str, now: float, tenant_id: str | None = None) -> dict[str, Any] | None:
    """Move a dead delivery back to the queue with a fresh set of attempts; returns the dead
    letter's delivery_id, tenant_id, notification_id and channel, or None if there is none."""
    scope, params = ("AND tenant_id = ?", [tenant_id]) if tenant_id else ("", [])
    dead = tx.execute(
        f"DELETE FROM dead_letters WHERE delivery_id = ? {scope}"
        " RETURNING delivery_id, tenant_id, notification_id, channel",
        (delivery_id, *params),
    ).fetchone()
    if dead is None:
        return None
    priority = tx.execute("SELECT priority FROM notifications WHERE id = ?", (dead["notification_id"],)).fetchone()[
        "priority"
    ]
    tx.execute(
        "INSERT INTO jobs (delivery_id, tenant_id, channel, priority, state, run_at, attempts)"
        " VALUES (?, ?, ?, ?, ?, ?, 0)",
        (delivery_id, dead["tenant_id"], dead["channel"], PRIORITIES[priority], READY, now),
    )
    tx.execute(
        "UPDATE deliveries SET status = 'queued', reason = NULL, updated_at = ? WHERE id = ?", (now, delivery_id)
    )
    return dict(dead)


def delete_dead(tx: Tx, tenant_id: str, delivery_id: str) -> bool:
    return (
        tx.execute(
            "DELETE FROM dead_letters WHERE delivery_id = ? AND tenant_id = ?", (delivery_id, tenant_id)
        ).rowcount
        > 0
    )


@dataclass(frozen=True)
class DeadFilter:
    """Which of a tenant's dead letters a bulk replay takes; None matches any."""

    tenant_id: str
    channel: str | None = None
    delivery_ids: list[str] | None = None
    since: float | None = None
    until: float | None = None


def dead_ids(tx: Tx, match: DeadFilter) -> list[str]:
    """The dead letters ``match`` selects, in the transaction that replays them."""
    where: list[str] = ["tenant_id = ?"]
    params: list[object] = [match.tenant_id]
    if match.channel:
        where.append("channel = ?")
        params.append(match.channel)
    if match.delivery_ids is not None:
        where.append(f"delivery_id IN ({_placeholders(len(match.delivery_ids))})")
        params.extend(match.delivery_ids)
    if match.since is not None:
        where.append("dead_at >= ?")
        params.append(match.since)
    if match.until is not None:
        where.append("dead_at < ?")
        params.append(match.until)
    return [r[0] for r in tx.execute(f"SELECT delivery_id FROM dead_letters WHERE {' AND '.join(where)}", params)]


def _dead_letters_query(
    tenant_id: str | None, channel: str | None, limit: int | None, cursor: str | None
) -> tuple[str, list[object]]:
    where: list[str] = ["1 = 1"]
    params: list[object] = []
    for column, value in (("tenant_id", tenant_id), ("channel", channel)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if cursor:
        where.append("delivery_id < ?")
        params.append(cursor)
    sql = f"SELECT * FROM dead_letters WHERE {' AND '.join(where)} ORDER BY delivery_id DESC"
    if limit is None:
        return sql, params
    return f"{sql} LIMIT ?", [*params, limit]


async def dead_letters(
    db: Database, tenant_id: str | None, channel: str | None, limit: int, cursor: str | None
) -> list[dict[str, Any]]:
    """Up to ``limit`` dead letters newest first (by delivery id), after ``cursor``."""
    rows = await db.fetchall(*_dead_letters_query(tenant_id, channel, limit, cursor))
    return [dict(r) for r in rows]


def all_dead_letters(tx: Tx, tenant_id: str | None) -> list[dict[str, Any]]:
    """Every dead letter (the tenant's, or all tenants'), newest first, read in ``tx``: for
    a command that holds a connection of its own (storage/offline.py), not the server."""
    return [dict(r) for r in tx.execute(*_dead_letters_query(tenant_id, None, None, None))]


async def next_due(db: Database) -> float | None:
    """When the timer next has something to do: the earliest waiting job or lease end."""
    row = await db.fetchone(f"SELECT MIN(run_at) AS t FROM jobs WHERE state IN ({WAITING}, {LEASED})")
    return None if row is None else row["t"]
