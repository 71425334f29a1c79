"""Tenants, their API keys and the roles those keys carry."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import time
from dataclasses import dataclass
from enum import IntEnum

from .ids import new_id

KEY_PREFIX = "af"
DEFAULT_TENANT = "default"


class Role(IntEnum):
    """Ordered: each role may do everything the ones below it may."""

    member = 1
    admin = 2
    owner = 3


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant a key belongs to and the key's role."""

    tenant_id: str
    role: Role
    key_id: str


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    api_key: str  # shown once; only its hash is kept
    role: Role


class DuplicateTenant(ValueError):
    pass


class UnknownTenant(LookupError):
    pass


def hash_key(api_key: str) -> str:
    # API keys carry 256 random bits, so a fast hash is as safe as a slow one here and
    # keeps authentication off the hot path's budget.
    return hashlib.sha256(api_key.encode()).hexdigest()


def issue_key(conn: sqlite3.Connection, tenant_id: str, role: Role, name: str | None = None) -> IssuedKey:
    if conn.execute("SELECT 1 FROM tenants WHERE id = ?", (tenant_id,)).fetchone() is None:
        raise UnknownTenant(tenant_id)
    key_id = new_id("key")
    prefix = secrets.token_hex(4)
    api_key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    conn.execute(
        "INSERT INTO api_keys (id, tenant_id, prefix, secret_hash, role, name, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (key_id, tenant_id, f"{KEY_PREFIX}_{prefix}", hash_key(api_key), role.name, name, time.time()),
    )
    return IssuedKey(key_id, api_key, role)


def create_tenant(conn: sqlite3.Connection, name: str) -> tuple[str, IssuedKey]:
    """A new tenant and its first owner key."""
    if conn.execute("SELECT 1 FROM tenants WHERE name = ?", (name,)).fetchone():
        raise DuplicateTenant(name)
    tenant_id = new_id("ten")
    conn.execute("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)", (tenant_id, name, time.time()))
    return tenant_id, issue_key(conn, tenant_id, Role.owner, "owner")


def find_tenant(conn: sqlite3.Connection, ref: str) -> str | None:
    """A tenant id from its id or its name."""
    row = conn.execute("SELECT id FROM tenants WHERE id = ? OR name = ?", (ref, ref)).fetchone()
    return row[0] if row else None


AUTH_SQL = "SELECT id, tenant_id, role FROM api_keys WHERE secret_hash = ? AND revoked_at IS NULL"


def principal_from_row(row: sqlite3.Row) -> Principal:
    return Principal(tenant_id=row["tenant_id"], role=Role[row["role"]], key_id=row["id"])
