"""``create_app``: wires storage → providers → inbox hub → queue workers, torn down in reverse."""

from __future__ import annotations

import asyncio
import fcntl
import functools
import hashlib
import hmac
import logging
import os
import secrets
import signal
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from .api import dashboard, operations, receipts, signin
from .api.context import AUTH_CACHE_SECONDS, SERVICES, Services
from .api.headers import security_headers
from .api.middleware import AUTH_LIMITER, MIB, PARSER_LIMITS, authenticate, problems
from .api.rate_limits import AuthFailureLimiter, PublishLimiter
from .api.resources import ROUTE_TABLES
from .cache import TtlCache
from .clock import Clock
from .cluster import ClusterCoordinator
from .config import Config, ConfigError
from .coordination import Cache, Coordinator, InProcessCoordinator
from .delivery import status_events, status_sending
from .delivery.deliverer import Deliverer
from .delivery.renderer import Renderer
from .delivery.workers import ChannelPool, Stopped, WorkerPools
from .inbox.hub import HUB, Hub, item_listener
from .intake.fanout import FanOut
from .intake.scheduler import Scheduler
from .keys import KeyUsage
from .message import CHANNELS, STATUS_CHANNEL
from .ops.purge import Purger
from .providers.amazon_sns import SnsVerifier
from .providers.channel_setup import ChannelProviders
from .providers.interface import ProviderContext
from .providers.netguard import OutboundGuard, Resolve, parse_networks, system_resolve
from .providers.registry import ProviderRegistry
from .providers.sealing import Sealer
from .recipients import categories, suppression_list
from .recipients.unsubscribe import Links
from .storage import cluster_checks
from .storage.backend import database_for
from .storage.database import Database
from .templates.sandbox import size_caches
from .templates.store import TemplateStore

log = logging.getLogger("alertflow.app")
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# A node id's randomness: enough that nodes sharing one database never draw the same.
NODE_ID_BYTES = 8
# What the secret key's digest is taken of: the digest shows other nodes whether theirs is the
# same, and the key stays secret (HMAC, not a hash of the key alone).
SECRET_KEY_CHECK = b"alertflow: every node of a cluster has this secret key"


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


def node_id(data_dir: Path) -> str:
    """This node's id, which its job leases carry: made at random once and kept in the data
    dir, so a server restarted after a crash knows its own leases and takes them back at
    once (WorkerPools.start), while another node's wait for their expiry. Read under the
    data-dir lock, so two processes never both create it."""
    path = data_dir / "node_id"
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        made = secrets.token_hex(NODE_ID_BYTES)
        partial = path.with_suffix(".partial")
        partial.write_text(made + "\n", encoding="ascii")
        os.replace(partial, path)  # whole or absent: a crash never leaves half an id
        return made


async def same_secret_key(database: Database, config: Config) -> None:
    """Refuse to start a node whose secret key differs from the other nodes': it could not
    unseal the providers' credentials they stored, nor accept their inbox tokens and links."""
    assert config.server.secret_key
    digest = hmac.new(config.server.secret_key.encode(), SECRET_KEY_CHECK, hashlib.sha256).hexdigest()
    if await database.write(lambda tx: cluster_checks.agreed(tx, "secret_key", digest)) != digest:
        raise ConfigError(
            "server.secret_key: differs from the key of the nodes already on this database;"
            " give every node the same one (README, Scaling out)"
        )


def create_app(
    config: Config,
    registry: ProviderRegistry | None = None,
    clock: Clock | None = None,
    resolve: Resolve = system_resolve,
) -> web.Application:
    """The whole server as an aiohttp application; starting it starts the workers.

    ``resolve`` is how outbound host names are looked up (tests play a rebinding DNS with it).
    """
    clock = clock or Clock()
    database = database_for(config.storage, config.database_path)
    # Before the parts: every part below that acts on a signal subscribes to it here or in its
    # constructor. Nodes sharing a PostgreSQL database hear each other's signals.
    coordinator: Coordinator = InProcessCoordinator(clock.now)
    if config.storage.postgresql:
        coordinator = ClusterCoordinator(config.storage.url, config.storage.password(), database, clock.now)
    registry = registry or ProviderRegistry.from_entry_points()
    guard = OutboundGuard(parse_networks(config.security.allowed_private_networks), resolve)
    context = ProviderContext(database=database, public_url=config.server.public_url, guard=guard)
    if not config.server.secret_key:
        raise ConfigError("server.secret_key: not set and not found in the data dir; run `alertflow init`")
    # Validates [providers.*] now, before serving.
    sealer = Sealer(config.server.secret_key)
    context.extras[status_sending.EXTRAS_KEY] = status_sending.Sending(sealer, config.webhooks, clock.now)
    channels = ChannelProviders(config, registry, context, sealer)
    size_caches(config.cache.templates)  # the compile caches are the process's own
    template_store = TemplateStore(database, config.cache.template_versions)
    settings_cache = TtlCache(max_entries=config.cache.settings)

    links = Links(
        config.server.secret_key,
        config.server.base_url,
        functools.partial(categories.cached, settings_cache, database),
        config.inbox.preferences_link_ttl_seconds,
    )
    svc = Services(
        config=config,
        database=database,
        registry=registry,
        channels=channels,
        clock=clock,
        templates=template_store,
        links=links,
        settings=settings_cache,
        auth_cache=TtlCache(AUTH_CACHE_SECONDS, clock.now, config.cache.keys),
        limiter=PublishLimiter(config.limits, coordinator),
        coordinator=coordinator,
        key_usage=KeyUsage(clock.now),
    )
    svc.purger = Purger(database, config.retention, clock.now, svc.metrics.purged)
    coordinator.on_invalidate(Cache.SETTINGS, settings_cache.drop)
    coordinator.on_invalidate(Cache.KEYS, svc.auth_cache.drop)
    coordinator.on_invalidate(Cache.BATCH_COUNTS, svc.batch_counts.drop)
    coordinator.on_invalidate(Cache.CHANNELS, lambda key: channels.changed(*key))
    coordinator.on_invalidate(Cache.TEMPLATES, lambda key: template_store.forget(*key))
    coordinator.on_invalidate(Cache.WEBHOOKS, lambda key: status_events.forget(str(key)))
    for clear in (settings_cache.clear, svc.auth_cache.clear, svc.batch_counts.clear):
        coordinator.on_resync(clear)
    coordinator.on_resync(channels.forget_all)
    coordinator.on_resync(template_store.forget_all)

    app = web.Application(
        middlewares=[problems, authenticate],
        client_max_size=int(max(config.server.max_body_mb, config.server.max_bulk_body_mb) * MIB),
        handler_args=PARSER_LIMITS,
    )
    app[SERVICES] = svc
    app[AUTH_LIMITER] = AuthFailureLimiter(config.limits, clock.now)
    app[signin.LOGIN_LIMITER] = AuthFailureLimiter(config.limits, clock.now)
    app[signin.ACCOUNT_LIMITER] = AuthFailureLimiter(signin.account_limits(config.sessions), clock.now)
    app.on_response_prepare.append(security_headers(config.server.public_url))
    app[HUB] = hub = Hub(database, config.inbox, coordinator)
    app[receipts.SNS] = SnsVerifier(guard, config.receipts.sns_certificate_urls)
    app[operations.ROUTES] = tuple(route for table in ROUTE_TABLES for route in table.routes)
    for table in ROUTE_TABLES:
        table.add_to(app)
    app.router.add_static("/static", dashboard.STATIC_DIR)
    app.on_shutdown.append(hub.shutdown)
    stopped = Stopped(drained=0, released=0)  # what the stop did with the sends in flight

    async def storage(app: web.Application) -> AsyncIterator[None]:
        lock = lock_data_dir(config.server.data_dir)
        try:
            await database.open()  # inside the try: a start-up cut short still closes what it opened
            yield
        finally:
            await database.close()
            os.close(lock)
            # The last thing a stop does, so an operator (or systemd's journal) sees it ended.
            log.info("stopped", extra={"drained": stopped.drained, "released": stopped.released})

    async def key_use(app: web.Application) -> AsyncIterator[None]:
        async for _ in svc.key_usage.running(database):
            yield

    async def cluster(app: web.Application) -> AsyncIterator[None]:
        if not isinstance(coordinator, ClusterCoordinator):
            yield
            return
        await same_secret_key(database, config)
        await coordinator.start(node_id(config.server.data_dir))
        yield
        await coordinator.stop()

    async def providers(app: web.Application) -> AsyncIterator[None]:
        async with channels.connected():
            yield

    async def workers(app: web.Application) -> AsyncIterator[None]:
        nonlocal stopped
        deliverer = Deliverer(
            database,
            config.queue,
            channels.for_tenant,
            Renderer(template_store).render,
            clock.now,
            links.url_for,
            preferences_url=links.preferences_url_for,
            listed=functools.partial(suppression_list.reason, settings_cache, database),
        )
        concurrency, node = config.workers.model_dump(), node_id(config.server.data_dir)
        concurrency[STATUS_CHANNEL] = config.webhooks.concurrency
        pools = WorkerPools(
            [
                ChannelPool(c, concurrency[c], database, deliverer, clock.now, config.queue.lease_seconds, node)
                for c in (*CHANNELS, STATUS_CHANNEL)
            ],
            database,
            clock.now,
            node,
            coordinator,
        )
        deliverer.listeners += [pools.on_decision, svc.metrics.on_decision, item_listener(coordinator)]
        svc.deliverer = deliverer
        await pools.start()
        svc.pools = pools
        yield
        svc.pools = None
        stopped = await pools.stop(config.server.shutdown_timeout_seconds)

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

    app.cleanup_ctx.extend(
        [
            svc.metrics.loop_lag.running,
            storage,
            cluster,
            key_use,
            providers,
            hub.running,
            workers,
            fanout,
            scheduling,
            svc.purger.running,
        ]
    )
    return app


async def stop_on_signals(app: web.Application) -> AsyncIterator[None]:
    """SIGTERM or SIGINT stops the server gracefully, once: ``serve`` runs aiohttp with its
    own signal handling off and puts this first among the cleanup contexts.

    aiohttp stops on every signal, and a second one (Ctrl-C twice; ``timeout`` signals the
    process and then its group) broke into the graceful stop, so a reader's thread was
    never closed and the process never exited. A repeated signal is now only logged; the
    stop is bounded by ``server.shutdown_timeout_seconds``, and SIGKILL is always safe.
    """
    loop = asyncio.get_running_loop()

    def stop(sig: signal.Signals) -> None:
        log.info("stopping", extra={"signal": sig.name})
        for s in STOP_SIGNALS:
            loop.add_signal_handler(s, already_stopping)
        raise web.GracefulExit()

    def already_stopping() -> None:
        log.warning("already stopping: sends in flight get up to server.shutdown_timeout_seconds")

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, stop, sig)
    yield
    for sig in STOP_SIGNALS:
        loop.remove_signal_handler(sig)
