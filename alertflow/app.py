"""``create_app``: wires storage → providers → queue workers, torn down in reverse."""

from __future__ import annotations

import fcntl
import os
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from aiohttp import web

from .api import batches, categories, dlq, notifications, operations, outbox, preferences, schedules, topics, users
from .api import templates as template_api
from .api.middleware import MIB, authenticate, problems
from .channels import ChannelProviders
from .clock import Clock
from .config import Config
from .delivery import Deliverer
from .fanout import FanOut
from .limits import PublishLimiter
from .message import CHANNELS
from .providers import ProviderContext, ProviderRegistry
from .rendering import Renderer
from .scheduler import Scheduler
from .services import SERVICES, Services
from .storage.database import SQLiteDatabase
from .templates import TemplateStore
from .workers import ChannelPool, WorkerPools

ROUTE_TABLES = (
    operations.api,
    notifications.api,
    dlq.api,
    outbox.api,
    users.api,
    categories.api,
    preferences.api,
    topics.api,
    template_api.api,
    batches.api,
    schedules.api,
)


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


def create_app(config: Config, registry: ProviderRegistry | None = None, clock: Clock | None = None) -> web.Application:
    """The whole server as an aiohttp application; starting it starts the workers."""
    clock = clock or Clock()
    registry = registry or ProviderRegistry.from_entry_points()
    database = SQLiteDatabase(config.database_path)
    context = ProviderContext(database=database, public_url=config.server.public_url)
    channels = ChannelProviders(config, registry, context)  # validates [providers.*] now, before serving
    template_store = TemplateStore(database)
    svc = Services(
        config=config,
        database=database,
        registry=registry,
        channels=channels,
        clock=clock,
        templates=template_store,
        limiter=PublishLimiter(config.limits, clock.now),
    )

    app = web.Application(
        middlewares=[problems, authenticate],
        client_max_size=int(max(config.server.max_body_mb, config.server.max_bulk_body_mb) * MIB),
    )
    app[SERVICES] = svc
    for table in ROUTE_TABLES:
        table.add_to(app)

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
        deliverer = Deliverer(database, config.queue, channels.for_tenant, Renderer(template_store).render, clock.now)
        concurrency = config.workers.model_dump()
        pools = WorkerPools(
            [
                ChannelPool(c, concurrency[c], database, deliverer, clock.now, config.queue.lease_seconds)
                for c in CHANNELS
            ],
            database,
            clock.now,
        )
        deliverer.listeners.append(pools.on_decision)
        svc.deliverer = deliverer
        await pools.start()
        svc.pools = pools
        yield
        svc.pools = None
        await pools.stop(config.server.shutdown_timeout_seconds)

    async def fanout(app: web.Application) -> AsyncIterator[None]:
        runner = FanOut(svc)
        runner.start()
        svc.fanout = runner
        yield
        svc.fanout = None
        await runner.stop()

    async def scheduling(app: web.Application) -> AsyncIterator[None]:
        runner = Scheduler(svc)
        svc.scheduler = runner
        await runner.start()
        yield
        svc.scheduler = None
        runner.stop()

    app.cleanup_ctx.extend([storage, providers, workers, fanout, scheduling])
    return app
