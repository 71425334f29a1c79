"""Notifications' deliveries and their attempts: the history the API shows, the outcome of each
attempt, and providers' receipts. Writes run in the writer (``tx``); reads take the database."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from . import users
from .database import POSTGRESQL, Database, Tx, dialect
from .notifications import insert_values

# An attempt event: (outcome, error, provider), as delivery history lists them.
Event = tuple[str, str | None, str | None]


@dataclass(frozen=True)
class ReceiptTarget:
    """What a provider's receipt is checked against: the delivery it names."""

    tenant_id: str
    channel: str
    provider: str | None
    provider_message_id: str | None


def _in(n: int) -> str:
    return ",".join("?" * n)


def add_events(tx: Tx, delivery_id: str, now: float, events: Iterable[Event]) -> None:
    """Append events to a delivery's history, in the order given."""
    add_events_of(tx, [(delivery_id, now, outcome, error, provider) for outcome, error, provider in events])


def add_events_of(tx: Tx, rows: Sequence[tuple[str, float, str, str | None, str | None]]) -> None:
    """Append events to several deliveries' histories at once: (delivery id, at, outcome,
    error, provider) each, in the order given."""
    if rows:  # one statement, not one per row: on PostgreSQL each is a result for the writer to take
        insert_values(tx, "INSERT INTO attempts (delivery_id, at, outcome, error, provider) VALUES ", list(rows))


# One attempt's outcome, as set_outcomes takes it.
OutcomeRow = tuple[str, str, str | None, str | None, str | None, float]  # id, status, provider, message id, error, at

SET_OUTCOME_SQL = (
    "UPDATE deliveries SET status = ?, attempts = attempts + 1, updated_at = ?,"
    " provider = COALESCE(?, provider), provider_message_id = COALESCE(?, provider_message_id),"
    " reason = ?, sent_at = CASE WHEN ? = 1 THEN ? ELSE sent_at END,"
    " delivered_at = CASE WHEN ? = 1 THEN ? ELSE delivered_at END WHERE id = ?"
)


def set_outcome(
    tx: Tx,
    delivery_id: str,
    status: str,
    provider: str | None,
    provider_message_id: str | None,
    error: str | None,
    now: float,
) -> None:
    """Count one more attempt on the delivery and set its status from the attempt's outcome."""
    set_outcomes(tx, [(delivery_id, status, provider, provider_message_id, error, now)])


def set_outcomes(tx: Tx, outcomes: Sequence[OutcomeRow]) -> None:
    """:func:`set_outcome` for several deliveries, in one statement call (executemany)."""
    rows = []
    for delivery_id, status, provider, provider_message_id, error, now in outcomes:
        sent = status in ("sent", "delivered")
        rows.append(
            (
                status,
                now,
                provider,
                provider_message_id,
                None if sent else error,
                sent,
                now,
                status == "delivered",
                now,
                delivery_id,
            )
        )
    if rows:
        tx.executemany(SET_OUTCOME_SQL, rows)


def deliver_sent(tx: Tx, ids_sql: str, params: tuple[Any, ...], now: float) -> list[str]:
    """The deliveries ``ids_sql`` selects (a SELECT of delivery ids, over ``params``: another
    storage module's table, in the same statement) that were ``sent`` become ``delivered``;
    returns their ids."""
    rows = tx.execute(
        "UPDATE deliveries SET status = 'delivered', delivered_at = ?, updated_at = ? WHERE status = 'sent' AND id IN"
        f" ({ids_sql}) RETURNING id",
        (now, now, *params),
    ).fetchall()
    return [r["id"] for r in rows]


def apply_receipt(
    tx: Tx,
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
    moved = tx.execute(
        "UPDATE deliveries SET status = ?, reason = ?, updated_at = ?,"
        " delivered_at = CASE WHEN ? = 'delivered' THEN ? ELSE delivered_at END"
        " WHERE id = ? AND status = 'sent'",
        (status, reason, now, status, now, delivery_id),
    ).rowcount
    add_events(tx, delivery_id, now, [(event, error, provider)])
    return bool(moved)


def with_provider_message_ids(tx: Tx, tenant_id: str, message_ids: Sequence[str]) -> list[str]:
    """The tenant's deliveries a provider accepted under one of ``message_ids``: receipts that
    name the provider's message, not our delivery (SES, SendGrid)."""
    if not message_ids:
        return []
    rows = tx.execute(
        f"SELECT id FROM deliveries WHERE provider_message_id IN ({_in(len(message_ids))}) AND tenant_id = ?"
        " ORDER BY id",
        (*message_ids, tenant_id),
    ).fetchall()
    return [r["id"] for r in rows]


async def receipt_target(db: Database, delivery_id: str) -> ReceiptTarget | None:
    row = await db.fetchone(
        "SELECT tenant_id, channel, provider, provider_message_id FROM deliveries WHERE id = ?", (delivery_id,)
    )
    return None if row is None else ReceiptTarget(*row)


async def notification(db: Database, tenant_id: str, notification_id: str) -> dict[str, Any] | None:
    """One notification's stored columns, if it is the tenant's."""
    row = await db.fetchone("SELECT * FROM notifications WHERE id = ? AND tenant_id = ?", (notification_id, tenant_id))
    return None if row is None else dict(row)


async def notifications_page(
    db: Database, tenant_id: str, filters: dict[str, Any], limit: int, cursor: str | None
) -> list[dict[str, Any]]:
    """Up to ``limit`` notifications newest first, after ``cursor`` (the previous page's last
    id), matching ``filters`` (category, user_id, since, until; ``q``, a recipient search, see
    :func:`_recipient_holds`; status and channel of any of their deliveries)."""
    where, params = ["n.tenant_id = ?"], [tenant_id]
    if cursor:
        where.append("n.id < ?")
        params.append(cursor)
    for column in ("category", "user_id"):
        if filters.get(column):
            where.append(f"n.{column} = ?")
            params.append(filters[column])
    if filters.get("since") is not None:
        where.append("n.created_at >= ?")
        params.append(filters["since"])
    if filters.get("until") is not None:
        where.append("n.created_at < ?")
        params.append(filters["until"])
    if filters.get("q"):
        where.append(_recipient_holds(db))
        params += [tenant_id] + [users.like_pattern(filters["q"].lower())] * 5
    delivery_conds = []
    for column in ("status", "channel"):
        if filters.get(column):
            delivery_conds.append(f"d.{column} = ?")
            params.append(filters[column])
    if delivery_conds:
        where.append(
            "EXISTS (SELECT 1 FROM deliveries d WHERE d.notification_id = n.id AND "
            + " AND ".join(delivery_conds)
            + ")"
        )
    rows = await db.fetchall(
        f"SELECT n.* FROM notifications n WHERE {' AND '.join(where)} ORDER BY n.id DESC LIMIT ?",
        (*params, limit),
    )
    return [dict(r) for r in rows]


def _recipient_holds(db: Database) -> str:
    """The condition a recipient search adds: the notification's user id, the email or phone
    it was addressed to, or the email or phone of its user's record holds the text (any case).

    No index finds a substring: the page walks the tenant's notifications newest first and
    stops at its last match, as the users' search does."""
    if dialect(db) == POSTGRESQL:
        email, phone = "n.recipient::jsonb->>'email'", "n.recipient::jsonb->>'phone'"
    else:
        email, phone = "json_extract(n.recipient, '$.email')", "json_extract(n.recipient, '$.phone')"
    like = "LIKE ? ESCAPE '\\'"
    return (
        f"(n.user_id IN (SELECT u.user_id FROM users u WHERE u.tenant_id = ? AND (lower(u.email) {like}"
        f" OR lower(u.phone) {like})) OR lower(n.user_id) {like} OR lower({email}) {like} OR lower({phone}) {like})"
    )


async def of_notifications(db: Database, notification_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The deliveries of these notifications, by id."""
    if not notification_ids:
        return []
    rows = await db.fetchall(
        f"SELECT * FROM deliveries WHERE notification_id IN ({_in(len(notification_ids))}) ORDER BY id",
        notification_ids,
    )
    return [dict(r) for r in rows]


async def events(db: Database, delivery_ids: Sequence[str]) -> list[dict[str, Any]]:
    """These deliveries' attempt events, oldest first."""
    if not delivery_ids:
        return []
    # SQLite: rowid is the order of insertion (several events share one ``at``); PostgreSQL's
    # table has an identity column for it.
    order = "id" if dialect(db) == POSTGRESQL else "rowid"
    rows = await db.fetchall(
        "SELECT delivery_id, at, outcome, error, provider FROM attempts"
        f" WHERE delivery_id IN ({_in(len(delivery_ids))}) ORDER BY {order}",
        delivery_ids,
    )
    return [dict(r) for r in rows]


async def delivered_at(db: Database, notification_id: str, channels: Sequence[str]) -> float | None:
    """When the first of the notification's deliveries on ``channels`` was delivered, if one was."""
    row = await db.fetchone(
        f"SELECT MIN(delivered_at) FROM deliveries WHERE notification_id = ? AND channel IN ({_in(len(channels))})"
        " AND status = 'delivered'",
        (notification_id, *channels),
    )
    return None if row is None else row[0]
