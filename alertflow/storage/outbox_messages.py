"""What the built-in outbox provider captured (``outbox`` table), for ``GET /v1/outbox``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .database import Database, Later, Tx


@dataclass(frozen=True)
class Captured:
    """One message the outbox provider captured; recipient and content as JSON text."""

    tenant_id: str
    delivery_id: str
    notification_id: str
    channel: str
    recipient: str
    content: str
    created_at: float


def add(tx: Tx, message: Captured) -> Later[int]:
    """Store a captured message; its id comes once the write is answered (ids grow: the
    listing pages by them)."""
    cursor = tx.execute(
        "INSERT INTO outbox (tenant_id, delivery_id, notification_id, channel, recipient, content,"
        " created_at) VALUES (?,?,?,?,?,?,?) RETURNING id",
        (
            message.tenant_id,
            message.delivery_id,
            message.notification_id,
            message.channel,
            message.recipient,
            message.content,
            message.created_at,
        ),
    )
    return Later(lambda: int(cursor.fetchone()[0]))


async def page(
    db: Database, tenant_id: str, channel: str | None, limit: int, before_id: int | None
) -> list[dict[str, Any]]:
    """Up to ``limit`` of the tenant's captured messages newest first, below ``before_id``."""
    where: list[str] = ["tenant_id = ?"]
    params: list[object] = [tenant_id]
    if channel:
        where.append("channel = ?")
        params.append(channel)
    if before_id is not None:
        where.append("id < ?")
        params.append(before_id)
    rows = await db.fetchall(
        f"SELECT * FROM outbox WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT ?", (*params, limit)
    )
    return [dict(r) for r in rows]


async def one(db: Database, tenant_id: str, message_id: int) -> dict[str, Any] | None:
    """The tenant's captured message with this id; None when it is another tenant's or gone."""
    row = await db.fetchone("SELECT * FROM outbox WHERE tenant_id = ? AND id = ?", (tenant_id, message_id))
    return dict(row) if row is not None else None


async def of_deliveries(db: Database, tenant_id: str, delivery_ids: list[str]) -> dict[str, str]:
    """The content (JSON text) last captured for each of these deliveries of the tenant, by
    delivery id; a delivery replayed and sent again was captured once per send."""
    if not delivery_ids:
        return {}
    rows = await db.fetchall(
        "SELECT delivery_id, content FROM outbox WHERE tenant_id = ?"
        f" AND delivery_id IN ({','.join('?' * len(delivery_ids))}) ORDER BY id",
        (tenant_id, *delivery_ids),
    )
    return {r["delivery_id"]: r["content"] for r in rows}
