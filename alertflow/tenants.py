"""Tenants, their API keys and the roles those keys carry."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from enum import IntEnum

from .ids import new_id
from .storage import tenant_rows
from .storage.database import Tx

KEY_PREFIX = "af"
DEFAULT_TENANT = "default"


class Role(IntEnum):
    """Ordered: each role may do everything the ones below it may."""

    member = 1
    admin = 2
    owner = 3


@dataclass(frozen=True)
class Principal:
    """Who is calling: a tenant and a role, from an API key (``key_id``) or from a signed-in
    member's session (``member_id``; an operator acts as an owner of the tenant they chose)."""

    tenant_id: str
    role: Role
    key_id: str | None = None
    member_id: str | None = None
    operator: bool = False


@dataclass(frozen=True)
class IssuedKey:
    key_id: str
    api_key: str  # shown once; only its hash is kept
    role: Role

    @property
    def prefix(self) -> str:
        """``af_`` and 8 hex digits: what listings show and revoking names."""
        return "_".join(self.api_key.split("_", 2)[:2])


class DuplicateTenant(ValueError):
    pass


class UnknownTenant(LookupError):
    pass


def hash_key(api_key: str) -> str:
    # API keys carry 256 random bits, so a fast hash is as safe as a slow one here and
    # keeps authentication off the hot path's budget.
    return hashlib.sha256(api_key.encode()).hexdigest()


def issue_key(tx: Tx, tenant_id: str, role: Role, name: str | None = None) -> IssuedKey:
    if not tenant_rows.tenant_exists(tx, tenant_id):
        raise UnknownTenant(tenant_id)
    key_id = new_id("key")
    # Distinct, so that a prefix names one key to revoke (32 bits collide by the 65,000th key).
    while tenant_rows.prefix_taken(tx, f"{KEY_PREFIX}_{(prefix := secrets.token_hex(4))}"):
        pass
    api_key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    tenant_rows.add_key(
        tx, key_id, tenant_id, f"{KEY_PREFIX}_{prefix}", hash_key(api_key), role.name, name, time.time()
    )
    return IssuedKey(key_id, api_key, role)


def create_tenant(tx: Tx, name: str) -> tuple[str, IssuedKey]:
    """A new tenant and its first owner key."""
    if tenant_rows.name_taken(tx, name):
        raise DuplicateTenant(name)
    tenant_id = new_id("ten")
    tenant_rows.add_tenant(tx, tenant_id, name, time.time())
    return tenant_id, issue_key(tx, tenant_id, Role.owner, "owner")


def principal_of(holder: tenant_rows.KeyHolder) -> Principal:
    return Principal(tenant_id=holder.tenant_id, role=Role[holder.role], key_id=holder.key_id)
