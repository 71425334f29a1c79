"""``create_app``: wires storage → providers → inbox hub → queue workers, torn down in reverse."""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from .api import dlq, inbox, notifications, operations, outbox, users
from .api.middleware import MIB, authenticate, problems
from .channels import ChannelProviders
from .clock import Clock
from .config import Config
from .delivery import Deliverer
from .hub import HUB, Hub
from .message import CHANNELS, Recipient
from .providers import ProviderContext, ProviderRegistry
from .queue import Job
from .services import SERVICES, Services
from .storage.database import SQLiteDatabase
from .workers import ChannelPool, WorkerPools

ROUTE_TABLES = (operations.api, notifications.api, dlq.api, outbox.api, users.api, inbox.api)
# Browser assets (the inbox widget) sit in web/ at the top of the source tree; the package
# reaches them through a link (alertflow/web), and wheels and frozen builds carry them.
STATIC_DIR = Path(str(resources.files(__package__).joinpath("web", "static")))


class DataDirInUse(RuntimeError):
    """Another AlertFlow process serves this data dir."""


def lock_data_dir(data_dir: Path) -> int:
    """Hold an exclusive lock for the process's life: one server per SQLite file."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / "alertflow.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirInUse(f"another alertflow serve is using {data_dir}") from None
    return fd


async def render_inline(job: Job, recipient: Recipient) -> dict[str, Any]:
    content: dict[str, Any] = (job.content or {}).get(job.channel, {})
    return content


def create_app(config: Config, registry: ProviderRegistry | None = None, clock: Clock | None = None) -> web.Application:
    """The whole server as an aiohttp application; starting it starts the workers."""
    clock = clock or Clock()
    registry = registry or ProviderRegistry.from_entry_points()
    database = SQLiteDatabase(config.database_path)
    context = ProviderContext(database=database, public_url=config.server.public_url)
    channels = ChannelProviders(config, registry, context)  # validates [providers.*] now, before serving
    svc = Services(config=config, database=database, registry=registry, channels=channels, clock=clock)

    app = web.Application(
        middlewares=[problems, authenticate],
        client_max_size=int(max(config.server.max_body_mb, config.server.max_bulk_body_mb) * MIB),
    )
    app[SERVICES] = svc
    app[HUB] = hub = Hub(database, config.inbox)
    for table in ROUTE_TABLES:
        table.add_to(app)
    app.router.add_static("/static", STATIC_DIR)
    app.on_shutdown.append(hub.shutdown)

    async def storage(app: web.Application) -> AsyncIterator[None]:
        lock = lock_data_dir(config.server.data_dir)
        await database.open()
        try:
            yield
        finally:
            await database.close()
            os.close(lock)

    async def providers(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as http:
            context.http = http
            yield
            await channels.close()

    async def workers(app: web.Application) -> AsyncIterator[None]:
        deliverer = Deliverer(database, config.queue, channels.for_tenant, render_inline, clock.now)
        concurrency = config.workers.model_dump()
        pools = WorkerPools(
            [ChannelPool(c, concurrency[c], database, deliverer, clock.now, config.queue.lease_seconds) for c in CHANNELS],
            database,
            clock.now,
        )
        deliverer.listeners.append(pools.on_decision)
        deliverer.listeners.append(hub.on_decision)
        svc.deliverer = deliverer
        await pools.start()
        svc.pools = pools
        yield
        svc.pools = None
        await pools.stop(config.server.shutdown_timeout_seconds)

    app.cleanup_ctx.extend([storage, providers, hub.running, workers])
    return app
