"""Per-tenant publish rate: a token bucket per tenant, refused with 429 and ``Retry-After``.

Buckets live in memory: one process serves a data dir (the lock in app.py), so there is
no one to share them with, and a restart forgiving a tenant's debt costs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .config import LimitsConfig
from .errors import ApiError
from .resilience import TokenBucket


class PublishLimiter:
    """``[limits] publish_per_second`` for each tenant; a bulk request counts as one."""

    def __init__(self, config: LimitsConfig, clock: Callable[[], float]) -> None:
        self.rate = config.publish_per_second
        self.burst = float(config.publish_burst or max(1.0, self.rate))
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, tenant_id: str) -> None:
        """Raise 429 when the tenant is over its rate; a refused request takes no token."""
        if not self.rate:
            return
        bucket = self._buckets.get(tenant_id)
        if bucket is None:
            bucket = self._buckets[tenant_id] = TokenBucket(self.rate, self.burst, self.clock)
        wait = bucket.reserve()
        if wait:
            bucket.cancel()
            # Retry-After is whole seconds (RFC 9110); rounding up never invites an early retry.
            seconds = max(1, math.ceil(wait))
            raise ApiError(
                "rate-limited",
                f"this tenant may publish {self.rate:g} requests a second (bursts of {self.burst:g});"
                f" retry in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )
