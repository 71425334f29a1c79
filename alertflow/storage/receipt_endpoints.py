"""Where providers report bounces, complaints and deliveries: each tenant's secret receipt
URL per provider (its token kept as a hash), and the provider messages already applied."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .database import Database, Tx


@dataclass(frozen=True)
class Endpoint:
    tenant_id: str
    provider: str
    public_key: str | None  # SendGrid's verification key (base64 DER); None for SES
    created_at: float


def put(tx: Tx, tenant_id: str, provider: str, token_hash: str, public_key: str | None, now: float) -> None:
    """Give the tenant a new receipt URL for ``provider``: the one before stops working."""
    tx.execute(
        "INSERT INTO receipt_endpoints (tenant_id, provider, token_hash, public_key, created_at) VALUES (?,?,?,?,?)"
        " ON CONFLICT (tenant_id, provider) DO UPDATE SET token_hash = excluded.token_hash,"
        " public_key = excluded.public_key, created_at = excluded.created_at",
        (tenant_id, provider, token_hash, public_key, now),
    )


async def by_token(db: Database, provider: str, token_hash: str) -> Endpoint | None:
    row = await db.fetchone(
        "SELECT tenant_id, provider, public_key, created_at FROM receipt_endpoints"
        " WHERE token_hash = ? AND provider = ?",
        (token_hash, provider),
    )
    return None if row is None else Endpoint(row["tenant_id"], row["provider"], row["public_key"], row["created_at"])


def first_seen(tx: Tx, provider: str, message_ids: Sequence[str], now: float, forget_before: float) -> list[str]:
    """Record the messages as applied; returns those not applied before, in the order given.
    Entries older than ``forget_before`` go: messages that old are refused by their timestamp."""
    tx.execute("DELETE FROM receipt_messages WHERE received_at < ?", (forget_before,))
    fresh = []
    for message_id in dict.fromkeys(message_ids):
        inserted = tx.execute(
            "INSERT INTO receipt_messages (provider, message_id, received_at) VALUES (?, ?, ?)"
            " ON CONFLICT (provider, message_id) DO NOTHING",
            (provider, message_id, now),
        ).rowcount
        if inserted:
            fresh.append(message_id)
    return fresh
