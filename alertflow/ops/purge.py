"""The retention purge: deletes rows past their tenant's retention days, in chunks.

Each chunk is its own short write of at most ``[retention] chunk_rows`` rows, and the purge
rests between chunks as long as the last one took, so a publish waits behind one chunk,
never behind the whole purge, and the writer spends at most half its time purging. Usage
counts survive: retention_rows rolls them up before rows go."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from ..config import RetentionConfig
from ..storage import retention_rows, tenant_rows
from ..storage.database import Database, Tx

log = logging.getLogger("alertflow.retention")
DAY = 86400.0
# Seconds the purge rests after a chunk per second the chunk's write took.
REST_PER_WRITE = 1.0
# Pages one vacuum write gives back (4 KiB each: 8 MiB): short, like a purge chunk.
VACUUM_PAGES = 2048
# What purges each kind, one chunk at a time.
PURGES: dict[str, Callable[[Tx, str, float, int], int]] = {
    "notifications": retention_rows.purge_notifications,
    "inbox": retention_rows.purge_inbox,
    "outbox": retention_rows.purge_outbox,
    "webhook_attempts": retention_rows.purge_webhook_attempts,
    "audit": retention_rows.purge_audit,
}


class Purger:
    def __init__(
        self, database: Database, config: RetentionConfig, now: Callable[[], float], purged: Counter[str]
    ) -> None:
        self.database, self.config, self.now = database, config, now
        self.purged = purged  # rows purged per kind, for /metrics

    def days(self, own: dict[str, int | None], kind: str) -> int:
        chosen = own.get(kind)
        return int(getattr(self.config, kind)) if chosen is None else chosen

    async def run_once(self) -> Counter[str]:
        """One pass over every tenant and kind; the rows purged per kind."""
        done: Counter[str] = Counter()
        overrides = await retention_rows.overrides(self.database)
        for tenant in await tenant_rows.all_tenants(self.database):
            own = overrides.get(tenant.tenant_id, {})
            for kind, purge in PURGES.items():
                days = self.days(own, kind)
                if days:  # 0 keeps forever
                    done[kind] += await self._purge(purge, kind, tenant.tenant_id, self.now() - days * DAY)
        if done.total():
            await self._give_back_space()
            log.info("retention purge", extra={"event": "retention.purged", **done})
        return done

    async def _purge(
        self, purge: Callable[[Tx, str, float, int], int], kind: str, tenant_id: str, before: float
    ) -> int:
        chunk, total = self.config.chunk_rows, 0
        while True:
            started = time.perf_counter()
            n = await self.database.write(lambda tx: purge(tx, tenant_id, before, chunk))
            total += n
            self.purged[kind] += n
            if n < chunk:
                return total
            # Rest as long as the chunk took: the purge holds the writer half the time at
            # most, and publishes queued behind a chunk go before the next one.
            await asyncio.sleep((time.perf_counter() - started) * REST_PER_WRITE)

    async def _give_back_space(self) -> None:
        while await self.database.write(retention_rows.free_pages):
            await self.database.write(lambda tx: retention_rows.vacuum(tx, VACUUM_PAGES))
            await asyncio.sleep(0)

    async def running(self, app: web.Application) -> AsyncIterator[None]:
        """cleanup_ctx: a pass every ``interval_seconds`` while the app runs."""
        task = asyncio.create_task(self._loop(), name="retention-purge")
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.interval_seconds)
            try:
                await self.run_once()
            except Exception:  # the next pass retries; the server goes on
                log.exception("retention purge failed")
