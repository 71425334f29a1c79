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


async def tenant_name(db: Database, tenant_id: str) -> str | None:
    row = await db.fetchone("SELECT name FROM tenants WHERE id = ?", (tenant_id,))
    return str(row["name"]) if row else None


def first_tenant(tx: Tx) -> str | None:
    """The oldest tenant's id (``init``'s ``default``), or None before there is one."""
    row = tx.execute("SELECT id FROM tenants ORDER BY created_at, id LIMIT 1").fetchone()
    return str(row[0]) if row else None


@dataclass(frozen=True)
class KeyRow:
    """An unrevoked API key as GET /v1/keys lists it (never its hash)."""

    prefix: str
    tenant_id: str
    name: str | None
    role: str
    created_at: float
    last_used_at: float | None
    key_id: str


@dataclass(frozen=True)
class Revoked:
    """A key just revoked: its hash names it in the authentication cache."""

    key_id: str
    secret_hash: str


def prefix_taken(tx: Tx, prefix: str) -> bool:
    return tx.execute("SELECT 1 FROM api_keys WHERE prefix = ?", (prefix,)).fetchone() is not None


_KEY_COLUMNS = "prefix, tenant_id, name, role, created_at, last_used_at, id"


async def keys(db: Database, tenant_id: str | None) -> list[KeyRow]:
    """The unrevoked keys of a tenant (of every tenant for None), oldest first."""
    where, params = ("AND tenant_id = ?", (tenant_id,)) if tenant_id is not None else ("", ())
    rows = await db.fetchall(
        f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE revoked_at IS NULL {where} ORDER BY created_at, id", params
    )
    return [KeyRow(*r) for r in rows]


def keys_for_write(tx: Tx, tenant_id: str | None) -> list[KeyRow]:
    """:func:`keys` as the writer (or a CLI session) sees them."""
    where, params = ("AND tenant_id = ?", (tenant_id,)) if tenant_id is not None else ("", ())
    rows = tx.execute(
        f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE revoked_at IS NULL {where} ORDER BY created_at, id", params
    ).fetchall()
    return [KeyRow(*r) for r in rows]


def key_by_prefix(tx: Tx, prefix: str, tenant_id: str | None) -> list[KeyRow]:
    """The unrevoked keys with this prefix (of this tenant, unless None): one, or none, or
    more only where prefixes were drawn before they were kept distinct."""
    where, params = ("AND tenant_id = ?", (prefix, tenant_id)) if tenant_id is not None else ("", (prefix,))
    rows = tx.execute(
        f"SELECT {_KEY_COLUMNS} FROM api_keys WHERE prefix = ? AND revoked_at IS NULL {where}", params
    ).fetchall()
    return [KeyRow(*r) for r in rows]


def owner_keys(tx: Tx, tenant_id: str) -> int:
    """How many unrevoked owner keys the tenant has."""
    row = tx.execute(
        "SELECT COUNT(*) FROM api_keys WHERE tenant_id = ? AND role = 'owner' AND revoked_at IS NULL", (tenant_id,)
    ).fetchone()
    return int(row[0])


def revoke(tx: Tx, key_id: str, now: float) -> Revoked | None:
    """Revoke the key (None if it was revoked already): it never authenticates again."""
    row = tx.execute(
        "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL RETURNING id, secret_hash",
        (now, key_id),
    ).fetchone()
    return Revoked(row[0], row[1]) if row else None


def record_use(tx: Tx, used: dict[str, float]) -> None:
    """Keys' last use, from key id to time; a time older than the one stored changes nothing."""
    tx.executemany(
        "UPDATE api_keys SET last_used_at = ? WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)",
        [(at, key_id, at) for key_id, at in used.items()],
    )
