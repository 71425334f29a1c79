"""Members: people of a tenant who sign in, with a role as an API key has one, and operators,
who belong to no tenant and manage them all. A member sets a password through a one-time link."""

from __future__ import annotations

import re
import secrets

from . import tenants
from .ids import new_id
from .storage import member_rows, tenant_rows
from .storage.database import Tx
from .tenants import Role
from .timefmt import iso

LINK_PATH = "/invite/"
# RFC 5321's longest forward path, less its angle brackets.
MAX_EMAIL = 254
# Enough to tell an address from a typo of a name; the mail server decides the rest.
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


class DuplicateEmail(ValueError):
    pass


def normalise_email(email: str) -> str:
    """The email as stored and looked up: trimmed and lower-cased, so Ann@X and ann@x are one."""
    return email.strip().lower()


def email_problem(email: str) -> str | None:
    if len(email) > MAX_EMAIL:
        return f"must be at most {MAX_EMAIL} characters"
    if not EMAIL.match(email):
        return "must be an email address (name@domain)"
    return None


def hash_token(token: str) -> str:
    # Link and session tokens carry 256 random bits: a fast hash is as safe here (see tenants.hash_key).
    return tenants.hash_key(token)


def new_link(tx: Tx, member_id: str, now: float, ttl: float) -> str:
    """A one-time link token that sets the member's password; earlier links stop working."""
    token = secrets.token_urlsafe(32)
    member_rows.replace_link(tx, hash_token(token), member_id, now, now + ttl)
    return token


def link_url(base_url: str, token: str) -> str:
    return f"{base_url}{LINK_PATH}{token}"


def create(tx: Tx, email: str, tenant_id: str | None, role: Role | None, now: float) -> str:
    """A member of ``tenant_id`` with ``role``, or an operator when both are None; its id.

    Raises :class:`DuplicateEmail` when the email is a member already and
    :class:`tenants.UnknownTenant` for a tenant that does not exist.
    """
    if member_rows.email_taken(tx, email):
        raise DuplicateEmail(email)
    if tenant_id is not None and not tenant_rows.tenant_exists(tx, tenant_id):
        raise tenants.UnknownTenant(tenant_id)
    member_id = new_id("mbr")
    operator = tenant_id is None
    member_rows.add_member(tx, member_id, email, tenant_id, None if role is None else role.name, operator, now)
    return member_id


def set_password(tx: Tx, member_id: str, password_hash: str, keep_session: str | None = None) -> None:
    """A new password ends every session of the member (but the one that changed it, hashed
    ``keep_session``): whoever knew the old password is out."""
    member_rows.set_password(tx, member_id, password_hash)
    member_rows.end_sessions(tx, member_id, keep_session)


def may_manage(actor: Role, *roles: Role) -> bool:
    """As with keys (the contract): an admin manages admins and members, an owner everyone."""
    return actor is Role.owner or (actor >= Role.admin and all(r <= Role.admin for r in roles))


def view(member: member_rows.MemberRow) -> dict[str, object]:
    """A member as the API shows one."""
    return {
        "member_id": member.member_id,
        "email": member.email,
        "role": member.role,
        "password_set": member.password_hash is not None,
        "created_at": iso(member.created_at),
    }
