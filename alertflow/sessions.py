"""Signed-in browsers: a server-side session per sign-in, found by its cookie's token (kept
hashed), ended by sign-out, by a timeout, by a password change or by the member's removal."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from .config import SessionsConfig
from .members import hash_token
from .storage import member_rows, tenant_rows
from .storage.database import Database, Tx
from .storage.member_rows import MemberRow
from .tenants import Principal, Role

COOKIE = "alertflow_session"
# Beside it, readable by our pages' script (not HttpOnly): it tells the dashboard a session is
# there to ask /v1/session about. It holds the CSRF token, which other sites cannot read.
CSRF_COOKIE = "alertflow_csrf"
# A session's last use is written at most this often, not on every request: the idle timeout
# is then this much coarser, and a busy dashboard costs one write a minute, not one a request.
TOUCH_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class SignedIn:
    """A live session: who signed in, the tenant they act in, the token unsafe requests repeat."""

    token_hash: str
    member: MemberRow
    tenant_id: str | None  # None only for an operator while no tenant exists
    csrf_token: str

    @property
    def principal(self) -> Principal | None:
        """The same (tenant, role) a key carries; an operator acts as an owner of the current tenant."""
        if self.tenant_id is None:
            return None
        role = Role.owner if self.member.operator else Role[self.member.role or "member"]
        return Principal(self.tenant_id, role, member_id=self.member.member_id, operator=self.member.operator)


async def open_session(
    db: Database,
    member: MemberRow,
    now: float,
    config: SessionsConfig,
    also: Callable[[Tx, str | None], None] | None = None,
) -> tuple[str, SignedIn]:
    """A new session for ``member``: its token, for the cookie, and the session. ``also`` runs in
    the same transaction with the tenant the session acts in (the sign-in's audit entry)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    token_hash = hash_token(token)

    def add(tx: Tx) -> str | None:
        member_rows.end_stale_sessions(
            tx, member.member_id, now - config.idle_timeout_seconds, now - config.absolute_timeout_seconds
        )
        # An operator starts in the oldest tenant (init's `default`) and may switch.
        tenant_id = tenant_rows.first_tenant(tx) if member.operator else None
        member_rows.add_session(tx, token_hash, member.member_id, tenant_id, csrf, now)
        acting = tenant_id if member.operator else member.tenant_id
        if also is not None:
            also(tx, acting)
        return acting

    tenant_id = await db.write(add)
    return token, SignedIn(token_hash, member, tenant_id, csrf)


async def resolve(db: Database, token: str, now: float, config: SessionsConfig) -> SignedIn | None:
    """The live session of ``token``, or None; a session found past a timeout is ended."""
    token_hash = hash_token(token)
    row = await member_rows.session(db, token_hash)
    if row is None:
        return None
    if now - row.last_seen_at >= config.idle_timeout_seconds or now - row.created_at >= config.absolute_timeout_seconds:
        await db.write(lambda tx: member_rows.end_session(tx, token_hash))
        return None
    if now - row.last_seen_at >= TOUCH_EVERY_SECONDS:
        await db.write(lambda tx: member_rows.touch_session(tx, token_hash, now))
    tenant_id = row.tenant_id if row.member.operator else row.member.tenant_id
    return SignedIn(token_hash, row.member, tenant_id, row.csrf_token)


async def end(db: Database, token_hash: str) -> None:
    await db.write(lambda tx: member_rows.end_session(tx, token_hash))
