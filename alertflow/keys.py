"""API keys managed: revoked within the caller's role, listed with their last use.

A key's last use is remembered in memory (:class:`KeyUsage`) and written at most once per
``FLUSH_SECONDS`` for all keys used meanwhile, and once more on shutdown: authentication is
on every request's path, and a write per request would put every request behind the single
writer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from .storage import tenant_rows
from .storage.database import Database, Tx
from .tenants import Role
from .timefmt import iso

log = logging.getLogger("alertflow.keys")
# How stale a key's stored last use may be: a minute is what "last used" is read at (is this
# key still in use?), and one write a minute for every key used is nothing to the writer.
FLUSH_SECONDS = 60.0


class UnknownKey(LookupError):
    """No unrevoked key has this prefix (in the caller's tenant)."""


class AmbiguousPrefix(ValueError):
    """Several unrevoked keys share the prefix (drawn before prefixes were kept distinct)."""


class RoleTooHigh(PermissionError):
    """The caller's role is below the key's: it may neither create nor revoke such a key."""


class LastOwnerKey(ValueError):
    """Revoking it would leave the tenant without an owner key."""


def check_role(caller: Role, wanted: Role) -> None:
    """A key manages keys of its own role and below (the contract's roles)."""
    if wanted > caller:
        raise RoleTooHigh(f"a {caller.name} key cannot manage {wanted.name} keys")


def revoke(tx: Tx, prefix: str, now: float, tenant_id: str | None, caller: Role | None) -> tenant_rows.Revoked:
    """Revoke the key with ``prefix``; ``caller`` None is the operator (the CLI), who may
    revoke any key, the tenant's last owner key included."""
    found = tenant_rows.key_by_prefix(tx, prefix, tenant_id)
    if not found:
        raise UnknownKey(prefix)
    if len(found) > 1:
        raise AmbiguousPrefix(prefix)
    key = found[0]
    if caller is not None:
        check_role(caller, Role[key.role])
        if key.role == Role.owner.name and tenant_rows.owner_keys(tx, key.tenant_id) == 1:
            raise LastOwnerKey("this is the tenant's last owner key: issue another owner key first")
    revoked = tenant_rows.revoke(tx, key.key_id, now)
    if revoked is None:  # another transaction revoked it since (PostgreSQL's writers run side by side)
        raise UnknownKey(prefix)
    return revoked


def shape(key: tenant_rows.KeyRow, last_used: float | None = None) -> dict[str, Any]:
    """A key as listings show it; ``last_used``, a use not yet written, wins when later."""
    used = max(filter(None, (key.last_used_at, last_used)), default=None)
    return {
        "prefix": key.prefix,
        "name": key.name,
        "role": key.role,
        "created_at": iso(key.created_at),
        "last_used_at": iso(used),
    }


class KeyUsage:
    """Each key's last use since the last write, by key id: as many entries as keys were
    used in a minute, and only keys that authenticated (made-up keys never get here)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._pending: dict[str, float] = {}
        self.flushed = asyncio.Event()  # set after each write: tests wait on it

    def seen(self, key_id: str) -> None:
        self._pending[key_id] = self.clock()

    def pending(self, key_id: str) -> float | None:
        return self._pending.get(key_id)

    async def flush(self, database: Database) -> None:
        """Write the uses gathered so far; on failure keep them for the next try."""
        taken, self._pending = self._pending, {}
        if not taken:
            return
        try:
            await database.write(lambda tx: tenant_rows.record_use(tx, taken))
        except Exception as exc:  # a full disk, say: nothing is lost but freshness
            for key_id, at in taken.items():  # later uses meanwhile win
                self._pending.setdefault(key_id, at)
            log.warning("keys' last use not written: %s", exc)
            return
        self.flushed.set()

    async def running(self, database: Database, interval: float = FLUSH_SECONDS) -> AsyncIterator[None]:
        """A cleanup context: writes every ``interval`` while the server runs, and on stop."""

        async def every() -> None:
            while True:
                await asyncio.sleep(interval)
                await self.flush(database)

        task = asyncio.create_task(every())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await self.flush(database)
