"""Users: contact data, devices, locale and timezone of a tenant's recipients, and their
erasure."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from .database import POSTGRESQL, Database, Tx, dialect


@dataclass(frozen=True)
class User:
    user_id: str
    email: str | None = None
    phone: str | None = None
    push_tokens: list[str] = field(default_factory=list)
    webpush: list[dict[str, Any]] = field(default_factory=list)
    locale: str | None = None
    timezone: str | None = None
    name: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0  # kept from the first put
    updated_at: float = 0.0


_UPSERT = (
    "INSERT INTO users (tenant_id, user_id, email, phone, push_tokens, webpush, locale, timezone, name,"
    " data, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
    " ON CONFLICT (tenant_id, user_id) DO UPDATE SET email = excluded.email, phone = excluded.phone,"
    " push_tokens = excluded.push_tokens, webpush = excluded.webpush, locale = excluded.locale,"
    " timezone = excluded.timezone, name = excluded.name, data = excluded.data,"
    " updated_at = excluded.updated_at"
)


def _json(value: list[Any] | dict[str, Any]) -> str:
    # Most users have no devices and no data: skipping the encoder for them halved what an
    # import of 100,000 users spent preparing its rows.
    return json.dumps(value) if value else ("[]" if isinstance(value, list) else "{}")


def _values(tenant_id: str, user: User) -> tuple[Any, ...]:
    return (
        tenant_id,
        user.user_id,
        user.email,
        user.phone,
        _json(user.push_tokens),
        _json(user.webpush),
        user.locale,
        user.timezone,
        user.name,
        _json(user.data),
        user.created_at,
        user.updated_at,
    )


def put(tx: Tx, tenant_id: str, user: User) -> None:
    """Create the user, or replace everything but its creation time."""
    tx.execute(_UPSERT, _values(tenant_id, user))


@dataclass(frozen=True)
class Prepared:
    """Users made ready to store by :func:`prepare` (outside the writer), for :func:`put_many`."""

    values: list[tuple[Any, ...]]

    def __len__(self) -> int:
        return len(self.values)


def prepare(tenant_id: str, users: Iterable[User]) -> Prepared:
    return Prepared([_values(tenant_id, u) for u in users])


def put_many(tx: Tx, *prepared: Prepared) -> None:
    """:func:`put` for each prepared user, in one statement (an import): the writer only writes."""
    tx.executemany(_UPSERT, (v for p in prepared for v in p.values))


def add_by_email(tx: Tx, tenant_id: str, emails: Iterable[tuple[str, str]], now: float) -> None:
    """Create users known by an email alone, from (user_id, email) pairs, in one statement:
    a bulk load (``alertflow bench`` makes a topic's subscribers with it). A user id already
    taken fails the whole load."""
    tx.executemany(
        "INSERT INTO users (tenant_id, user_id, email, created_at, updated_at) VALUES (?, ?, ?, ?, ?)",
        ((tenant_id, user_id, email, now, now) for user_id, email in emails),
    )


def known_users_sql(user_ids: str, sql_dialect: str) -> str:
    """A scalar subquery: the known users among ``user_ids`` (a SELECT of ids; ``?1`` is the
    tenant) as one JSON array of what a plan needs of each (contact, devices, timezone),
    with their preferences document under ``preferences`` (or null).

    One row of JSON, not a row per user: the sqlite3 module takes the GIL back after every
    row it steps, which costs up to a switch interval each while the event loop is busy (a
    bulk fan-out looks up users 1,000 at a time). Preferences come in the same query, and a
    fan-out step reads its recipients with it: each round trip to a reader thread waits for
    the busy event loop to pick up its result.
    """
    # SQLite: json_group_array and json_object; PostgreSQL: json_agg and json_build_object.
    array, object_, cast = (
        ("json_agg", "json_build_object", "::text")
        if sql_dialect == POSTGRESQL
        else ("json_group_array", "json_object", "")
    )
    return (
        f"(SELECT {array}({object_}('user_id', u.user_id, 'email', u.email, 'phone', u.phone,"
        " 'push_tokens', u.push_tokens, 'webpush', u.webpush, 'timezone', u.timezone, 'preferences', p.document))"
        f"{cast} FROM users u LEFT JOIN preferences p ON p.tenant_id = u.tenant_id AND p.user_id = u.user_id"
        f" WHERE u.tenant_id = ?1 AND u.user_id IN ({user_ids}))"
    )


def parse_users(found: str | None) -> dict[str, Any]:
    """:func:`known_users_sql`'s array, by user id."""
    return {u["user_id"]: u for u in json.loads(found)} if found else {}


async def known(db: Database, tenant_id: str, user_ids: set[str]) -> dict[str, Any]:
    """The known users among ``user_ids``, as :func:`known_users_sql` describes them."""
    if not user_ids:
        return {}
    ids = json.dumps(sorted(user_ids))
    # SQLite: json_each.
    sql_dialect = dialect(db)
    each = "json_array_elements_text(?2::json)" if sql_dialect == POSTGRESQL else "value FROM json_each(?2)"
    found = await db.fetchone(f"SELECT {known_users_sql(f'SELECT {each}', sql_dialect)} AS users", (tenant_id, ids))
    return parse_users(found["users"] if found else None)


async def get(db: Database, tenant_id: str, user_id: str) -> User | None:
    row = await db.fetchone("SELECT * FROM users WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id))
    return _user(row) if row is not None else None


def _user(row: Any) -> User:
    return User(
        user_id=row["user_id"],
        email=row["email"],
        phone=row["phone"],
        push_tokens=json.loads(row["push_tokens"]),
        webpush=json.loads(row["webpush"]),
        locale=row["locale"],
        timezone=row["timezone"],
        name=row["name"],
        data=json.loads(row["data"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def like_pattern(text: str) -> str:
    """A LIKE pattern (``ESCAPE '\\'``) matching ``text`` anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# Each searched column, lower-cased, against the lower-cased pattern: portable (SQLite's
# lower() folds ASCII letters only, PostgreSQL's all), and ESCAPE makes % and _ in a query literal.
_MATCHES = " OR ".join(f"lower({c}) LIKE ? ESCAPE '\\'" for c in ("user_id", "email", "phone", "name"))


async def search(db: Database, tenant_id: str, query: str | None, after: str, limit: int) -> list[User]:
    """Users in user-id order after ``after`` whose id, email, phone or name holds ``query``
    (any case), or all of them for None.

    The plan is a walk of the primary key (tenant_id, user_id) from ``after`` that stops at
    the ``limit``-th match: no sort, and a page of a common query reads little more than the
    page. A substring has no index to seek, so a query matching few users reads the
    tenant's users from the cursor on: for 100,000 users one full pass (README, "Users").
    """
    sql = "SELECT * FROM users WHERE tenant_id = ? AND user_id > ?"
    params: list[Any] = [tenant_id, after]
    if query:
        sql += f" AND ({_MATCHES})"
        params += [like_pattern(query.lower())] * 4
    rows = await db.fetchall(sql + " ORDER BY user_id LIMIT ?", (*params, limit))
    return [_user(r) for r in rows]


async def exists(db: Database, tenant_id: str, user_id: str) -> bool:
    row = await db.fetchone("SELECT 1 FROM users WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id))
    return row is not None


def exists_for_write(tx: Tx, tenant_id: str, user_id: str) -> bool:
    """Whether the user exists as the writer sees it, for a write that depends on it."""
    row = tx.execute("SELECT 1 FROM users WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id)).fetchone()
    return row is not None


def erase(tx: Tx, tenant_id: str, user_id: str) -> bool:
    """Erase a user in one transaction: the user record and its inbox go, and its
    notifications keep their counts but lose who and what (recipient and data). False when
    there was no such user (anything left of one is erased all the same)."""
    found = tx.execute("DELETE FROM users WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id)).rowcount
    tx.execute("DELETE FROM inbox WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id))
    tx.execute(
        "UPDATE notifications SET user_id = NULL, recipient = '{\"erased\": true}', data = '{}'"
        " WHERE tenant_id = ? AND user_id = ?",
        (tenant_id, user_id),
    )
    return found > 0


def remove_devices(
    tx: Tx, tenant_id: str, user_id: str, tokens: Collection[str], endpoints: Collection[str], now: float
) -> bool:
    """Drop these push tokens and Web Push endpoints from the user's devices; False when the
    user is gone."""
    row = tx.execute(
        "SELECT push_tokens, webpush FROM users WHERE tenant_id = ? AND user_id = ?", (tenant_id, user_id)
    ).fetchone()
    if row is None:
        return False
    kept_tokens = [t for t in json.loads(row["push_tokens"]) if t not in tokens]
    kept_subscriptions = [s for s in json.loads(row["webpush"]) if s.get("endpoint") not in endpoints]
    tx.execute(
        "UPDATE users SET push_tokens = ?, webpush = ?, updated_at = ? WHERE tenant_id = ? AND user_id = ?",
        (json.dumps(kept_tokens), json.dumps(kept_subscriptions), now, tenant_id, user_id),
    )
    return True
