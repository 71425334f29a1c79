"""Tenants and their API keys (only each key's hash is stored)."""

from __future__ import annotations

from dataclasses import dataclass

from .database import Database, Tx


@dataclass(frozen=True)
class KeyHolder:
    """Whom a valid API key authenticates: its tenant and the role's name."""

    key_id: str
    tenant_id: str
    role: str


def tenant_id_of(tx: Tx, ref: str) -> str | None:
    """A tenant's id from its id or its name."""
    row = tx.execute("SELECT id FROM tenants WHERE id = ? OR name = ?", (ref, ref)).fetchone()
    return str(row[0]) if row else None


def name_taken(tx: Tx, name: str) -> bool:
    return tx.execute("SELECT 1 FROM tenants WHERE name = ?", (name,)).fetchone() is not None


def tenant_exists(tx: Tx, tenant_id: str) -> bool:
    return tx.execute("SELECT 1 FROM tenants WHERE id = ?", (tenant_id,)).fetchone() is not None


def add_tenant(tx: Tx, tenant_id: str, name: str, now: float) -> None:
    tx.execute("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)", (tenant_id, name, now))


def add_key(
    tx: Tx, key_id: str, tenant_id: str, prefix: str, secret_hash: str, role: str, name: str | None, now: float
) -> None:
    tx.execute(
        "INSERT INTO api_keys (id, tenant_id, prefix, secret_hash, role, name, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (key_id, tenant_id, prefix, secret_hash, role, name, now),
    )


async def key_holder(db: Database, secret_hash: str) -> KeyHolder | None:
    """Whom the unrevoked key with this hash belongs to, or None."""
    row = await db.fetchone(
        "SELECT id, tenant_id, role FROM api_keys WHERE secret_hash = ? AND revoked_at IS NULL", (secret_hash,)
    )
    return KeyHolder(row["id"], row["tenant_id"], row["role"]) if row else None


@dataclass(frozen=True)
class TenantRow:
    tenant_id: str
    name: str
    created_at: float


async def all_tenants(db: Database) -> list[TenantRow]:
    """Every tenant, oldest first."""
    rows = await db.fetchall("SELECT id, name, created_at FROM tenants ORDER BY created_at, id")
    return [TenantRow(r["id"], r["name"], r["created_at"]) for r in rows]


def first_tenant(tx: Tx) -> str | None:
    """The oldest tenant's id (``init``'s ``default``), or None before there is one."""
    row = tx.execute("SELECT id FROM tenants ORDER BY created_at, id LIMIT 1").fetchone()
    return str(row[0]) if row else None
