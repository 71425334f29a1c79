"""What request handlers share: the running app's services, under one typed app key."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

from ..cache import TtlCache
from ..clock import Clock
from ..config import Config
from ..coordination import Coordinator
from ..keys import KeyUsage
from ..ops.metrics import Metrics
from .rate_limits import PublishLimiter

if TYPE_CHECKING:
    from ..delivery.deliverer import Deliverer
    from ..delivery.workers import WorkerPools
    from ..intake.fanout import FanOut
    from ..intake.scheduler import Scheduler
    from ..ops.purge import Purger
    from ..providers.channel_setup import ChannelProviders
    from ..providers.registry import ProviderRegistry
    from ..recipients.unsubscribe import Links
    from ..storage.database import Database
    from ..templates.store import TemplateStore

# A revoked or new key takes effect within this many seconds in a long-running server.
AUTH_CACHE_SECONDS = 10.0


@dataclass
class Services:
    config: Config
    database: Database
    registry: ProviderRegistry
    channels: ChannelProviders
    clock: Clock
    templates: TemplateStore
    links: Links
    limiter: PublishLimiter
    # Every signal after a commit goes through it: pool wake-ups, inbox pushes, cache drops.
    coordinator: Coordinator
    pools: WorkerPools | None = None
    deliverer: Deliverer | None = None
    fanout: FanOut | None = None
    scheduler: Scheduler | None = None
    purger: Purger | None = None
    # API key hash -> principal, for keys that exist only (made-up ones would pile up).
    auth_cache: TtlCache = field(default_factory=lambda: TtlCache(AUTH_CACHE_SECONDS))
    # Tenant settings every publish reads; keys from categories.cache_key / preferences.cache_key.
    settings: TtlCache = field(default_factory=TtlCache)
    # Big batches' delivery counts (batches.view): a progress view at most a second old.
    batch_counts: TtlCache = field(default_factory=lambda: TtlCache(ttl=1.0))
    metrics: Metrics = field(default_factory=Metrics)
    # Keys' last use, written at most once a minute (keys.KeyUsage).
    key_usage: KeyUsage = field(default_factory=lambda: KeyUsage(Clock().now))


SERVICES = web.AppKey("services", Services)


def services(request: web.Request) -> Services:
    return request.app[SERVICES]
