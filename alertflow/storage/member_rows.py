"""Members (people who sign in), their one-time password links and their sessions.

Tokens of links and sessions are kept as hashes only; a session row carries the member's
identity joined in, so authenticating a request is one read.
"""

from __future__ import annotations

from dataclasses import dataclass

from .database import Database, Tx

MEMBER_COLUMNS = "m.id, m.email, m.tenant_id, m.role, m.operator, m.password_hash, m.created_at"


@dataclass(frozen=True)
class MemberRow:
    member_id: str
    email: str
    tenant_id: str | None  # None for an operator
    role: str | None  # None for an operator
    operator: bool
    password_hash: str | None  # None until a link set it
    created_at: float


@dataclass(frozen=True)
class SessionRow:
    member: MemberRow
    tenant_id: str | None  # an operator's current tenant; None for a member (theirs is fixed)
    csrf_token: str
    created_at: float
    last_seen_at: float


def _member(row: tuple[object, ...]) -> MemberRow:
    member_id, email, tenant_id, role, operator, password_hash, created_at = row[:7]
    return MemberRow(
        str(member_id),
        str(email),
        None if tenant_id is None else str(tenant_id),
        None if role is None else str(role),
        bool(operator),
        None if password_hash is None else str(password_hash),
        float(created_at),  # type: ignore[arg-type]
    )


def add_member(
    tx: Tx, member_id: str, email: str, tenant_id: str | None, role: str | None, operator: bool, now: float
) -> None:
    tx.execute(
        "INSERT INTO members (id, email, tenant_id, role, operator, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        (member_id, email, tenant_id, role, int(operator), now),
    )


def email_taken(tx: Tx, email: str) -> bool:
    return tx.execute("SELECT 1 FROM members WHERE email = ?", (email,)).fetchone() is not None


def member_by_email(tx: Tx, email: str) -> MemberRow | None:
    row = tx.execute(f"SELECT {MEMBER_COLUMNS} FROM members m WHERE m.email = ?", (email,)).fetchone()
    return _member(tuple(row)) if row else None


def member(tx: Tx, member_id: str) -> MemberRow | None:
    row = tx.execute(f"SELECT {MEMBER_COLUMNS} FROM members m WHERE m.id = ?", (member_id,)).fetchone()
    return _member(tuple(row)) if row else None


async def find_by_email(db: Database, email: str) -> MemberRow | None:
    row = await db.fetchone(f"SELECT {MEMBER_COLUMNS} FROM members m WHERE m.email = ?", (email,))
    return _member(tuple(row)) if row else None


async def tenant_members(db: Database, tenant_id: str) -> list[MemberRow]:
    """The tenant's members, oldest first."""
    rows = await db.fetchall(
        f"SELECT {MEMBER_COLUMNS} FROM members m WHERE m.tenant_id = ? ORDER BY m.created_at, m.id", (tenant_id,)
    )
    return [_member(tuple(r)) for r in rows]


def count_owners(tx: Tx, tenant_id: str) -> int:
    row = tx.execute("SELECT COUNT(*) FROM members WHERE tenant_id = ? AND role = 'owner'", (tenant_id,)).fetchone()
    return int(row[0])


def set_role(tx: Tx, member_id: str, role: str) -> None:
    tx.execute("UPDATE members SET role = ? WHERE id = ?", (role, member_id))


def remove_member(tx: Tx, member_id: str) -> None:
    """The member, their links and their sessions."""
    tx.execute("DELETE FROM sessions WHERE member_id = ?", (member_id,))
    tx.execute("DELETE FROM password_links WHERE member_id = ?", (member_id,))
    tx.execute("DELETE FROM members WHERE id = ?", (member_id,))


def set_password(tx: Tx, member_id: str, password_hash: str) -> None:
    tx.execute("UPDATE members SET password_hash = ? WHERE id = ?", (password_hash, member_id))


# --- one-time links that set a password ---------------------------------------------------


def replace_link(tx: Tx, token_hash: str, member_id: str, now: float, expires_at: float) -> None:
    """The member's one usable link from now on: earlier ones stop working."""
    tx.execute("DELETE FROM password_links WHERE member_id = ?", (member_id,))
    tx.execute(
        "INSERT INTO password_links (token_hash, member_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
        (token_hash, member_id, now, expires_at),
    )


async def link_holder(db: Database, token_hash: str, now: float) -> MemberRow | None:
    """Whom an unexpired link is for, or None."""
    row = await db.fetchone(
        f"SELECT {MEMBER_COLUMNS} FROM password_links l JOIN members m ON m.id = l.member_id"
        " WHERE l.token_hash = ? AND l.expires_at > ?",
        (token_hash, now),
    )
    return _member(tuple(row)) if row else None


def use_link(tx: Tx, token_hash: str, now: float) -> str | None:
    """The member id of an unexpired link, which is used up; None if there is none."""
    row = tx.execute(
        "DELETE FROM password_links WHERE token_hash = ? AND expires_at > ? RETURNING member_id", (token_hash, now)
    ).fetchone()
    return str(row[0]) if row else None


# --- sessions -------------------------------------------------------------------------------


def add_session(tx: Tx, token_hash: str, member_id: str, tenant_id: str | None, csrf_token: str, now: float) -> None:
    tx.execute(
        "INSERT INTO sessions (token_hash, member_id, tenant_id, csrf_token, created_at, last_seen_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (token_hash, member_id, tenant_id, csrf_token, now, now),
    )


async def session(db: Database, token_hash: str) -> SessionRow | None:
    row = await db.fetchone(
        f"SELECT {MEMBER_COLUMNS}, s.tenant_id, s.csrf_token, s.created_at, s.last_seen_at"
        " FROM sessions s JOIN members m ON m.id = s.member_id WHERE s.token_hash = ?",
        (token_hash,),
    )
    if row is None:
        return None
    values = tuple(row)
    tenant_id, csrf_token, created_at, last_seen_at = values[7:]
    return SessionRow(
        _member(values),
        None if tenant_id is None else str(tenant_id),
        str(csrf_token),
        float(created_at),
        float(last_seen_at),
    )


def touch_session(tx: Tx, token_hash: str, now: float) -> None:
    tx.execute("UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?", (now, token_hash))


def set_session_tenant(tx: Tx, token_hash: str, tenant_id: str) -> None:
    tx.execute("UPDATE sessions SET tenant_id = ? WHERE token_hash = ?", (tenant_id, token_hash))


def end_session(tx: Tx, token_hash: str) -> None:
    tx.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))


def end_sessions(tx: Tx, member_id: str, keep: str | None = None) -> None:
    """Every session of the member (a password change, a removal), but the one hashed ``keep``."""
    tx.execute("DELETE FROM sessions WHERE member_id = ? AND token_hash != ?", (member_id, keep or ""))


def end_stale_sessions(tx: Tx, member_id: str, idle_before: float, created_before: float) -> None:
    """The member's sessions past a timeout, so abandoned ones do not pile up."""
    tx.execute(
        "DELETE FROM sessions WHERE member_id = ? AND (last_seen_at < ? OR created_at < ?)",
        (member_id, idle_before, created_before),
    )
