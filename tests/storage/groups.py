"""One group for certain: a first write holds the writer while the others queue behind it, so
a test can say what happens to writes committed together."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from alertflow.storage.database import Database, Tx


async def one_group(database: Database, *fns: Callable[[Tx], Any]) -> list[Any]:
    """Run ``fns`` as one group: each result, or the exception it raised."""
    taken, release = threading.Event(), threading.Event()

    def hold(tx: Tx) -> None:
        taken.set()
        release.wait()

    held = asyncio.ensure_future(database.write(hold))
    await asyncio.to_thread(taken.wait)  # the writer is inside `hold`: what follows queues
    writes: list[Awaitable[Any]] = [asyncio.ensure_future(database.write(fn)) for fn in fns]
    await asyncio.sleep(0)  # every write is in the writer's queue before it takes the next group
    # Counted while the writer is held: once released it may commit the next group before this
    # task runs again (the fresh-clone CI saw it), so a count taken after `held` would miss it.
    commits = database.commits
    release.set()
    await held
    results = await asyncio.gather(*writes, return_exceptions=True)
    assert database.commits == commits + 2, "the writes were not one group"  # `hold`'s, then theirs
    return results


def insert(tenant: str, name: str | None = None) -> Callable[[Tx], str]:
    def fn(tx: Tx) -> str:
        tx.execute("INSERT INTO tenants VALUES (?, ?, 0)", (tenant, name or tenant))
        return tenant

    return fn


async def tenants(database: Database) -> list[str]:
    return [r["id"] for r in await database.fetchall("SELECT id FROM tenants ORDER BY id")]
