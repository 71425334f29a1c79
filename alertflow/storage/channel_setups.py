"""The channel_providers table: a tenant's own providers for a channel, one set-up per channel.

A set-up is stored as the text providers/channel_setup.py seals (secret settings sealed), so
storage never sees a secret in the clear; a tenant's set-ups go with the tenant.
"""

from __future__ import annotations

from .database import Database, Tx


async def load(db: Database, tenant_id: str, channel: str) -> str | None:
    """The tenant's sealed set-up of the channel; None when it uses the configured default."""
    row = await db.fetchone(
        "SELECT providers FROM channel_providers WHERE tenant_id = ? AND channel = ?", (tenant_id, channel)
    )
    return row["providers"] if row else None


def save(tx: Tx, tenant_id: str, channel: str, providers: str, now: float) -> None:
    """Store the tenant's set-up of the channel, replacing any it had."""
    tx.execute(
        "INSERT INTO channel_providers (tenant_id, channel, providers, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (tenant_id, channel) DO UPDATE SET providers = excluded.providers,"
        " updated_at = excluded.updated_at",
        (tenant_id, channel, providers, now),
    )


def delete(tx: Tx, tenant_id: str, channel: str) -> bool:
    """Drop the tenant's set-up of the channel; False when it had none."""
    gone = tx.execute("DELETE FROM channel_providers WHERE tenant_id = ? AND channel = ?", (tenant_id, channel))
    return gone.rowcount > 0
