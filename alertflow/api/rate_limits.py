"""Rate limits, refused with 429 and ``Retry-After``: each tenant's publish rate, and each
client address's failed authentications. Both are token buckets.

The publish buckets are the coordinator's (``take``), so they can be shared where the nodes
are; failed authentications are counted by each process, as each refuses its own clients.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from .. import tenants
from ..config import LimitsConfig
from ..coordination import Coordinator, Limit
from ..errors import ApiError
from ..providers.resilience import TokenBucket

log = logging.getLogger("alertflow.auth")
# Client addresses whose failures are remembered at once: every client of a busy server fits,
# and a spray from more addresses forgets the least recently failing first, so memory stays
# bounded (a few MB) however many addresses an attacker controls.
MAX_TRACKED_ADDRESSES = 10_000
# An IPv6 host usually holds a whole /64 (RFC 6177): counting single addresses would let one
# host try each guess from a fresh address.
IPV6_HOST_PREFIX = 64
# The hex after "af_" that names an API key in `keys list` and the database; not secret.
KEY_ID_HEX = 8
# Of any other credential (an inbox or metrics token, a guess), a log shows this much.
SHOWN_CHARS = 4


class PublishLimiter:
    """``[limits] publish_per_second`` for each tenant; a bulk request counts as one."""

    def __init__(self, config: LimitsConfig, coordinator: Coordinator) -> None:
        self.rate = config.publish_per_second
        self.burst = float(config.publish_burst or max(1.0, self.rate))
        self.coordinator = coordinator

    async def check(self, tenant_id: str) -> None:
        """Raise 429 when the tenant is over its rate; a refused request takes no token."""
        if not self.rate:
            return
        wait = await self.coordinator.take(Limit.PUBLISH, tenant_id, self.rate, self.burst)
        if wait:
            # Retry-After is whole seconds (RFC 9110); rounding up never invites an early retry.
            seconds = max(1, math.ceil(wait))
            raise ApiError(
                "rate-limited",
                f"this tenant may publish {self.rate:g} requests a second (bursts of {self.burst:g});"
                f" retry in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )


class AuthFailureLimiter:
    """Failed authentications per client address: ``[limits] auth_failures`` of them within
    ``auth_failure_window_seconds`` block the address for ``auth_block_seconds``.

    The count is a token bucket (a failure takes a token; they come back at
    ``auth_failures`` per window), so a client that mistypes a key now and then is never
    blocked. A blocked address gets 429 for every authentication, a valid key included:
    were valid keys let through, 401 against 429 would tell a guesser which key is right.
    A success does not reset the count, so a tenant holding one valid key cannot interleave
    it to keep guessing others. One warning is logged per block, not per request.
    """

    def __init__(self, config: LimitsConfig, clock: Callable[[], float], capacity: int = MAX_TRACKED_ADDRESSES) -> None:
        self.failures = config.auth_failures
        self.window = config.auth_failure_window_seconds
        self.rate = config.auth_failures / config.auth_failure_window_seconds
        self.block_seconds = config.auth_block_seconds
        self.clock = clock
        self.capacity = capacity
        # Least recently failing first, so the oldest is the one forgotten at capacity.
        self._tracked: OrderedDict[str, _Tracked] = OrderedDict()
        self.failed_total = 0
        self.blocked_total = 0

    def check(self, address: str) -> None:
        """Raise 429 with ``Retry-After`` while the address is blocked."""
        if not self._tracked:  # no failures remembered: the usual case costs no lookup
            return
        client = self._tracked.get(counted_as(address))
        remaining = client.blocked_until - self.clock() if client else 0.0
        if remaining > 0:
            seconds = max(1, math.ceil(remaining))
            raise ApiError(
                "rate-limited",
                f"too many failed authentications from {address}; retry in {seconds} s",
                headers={"Retry-After": str(seconds)},
            )

    def failed(self, address: str, credential: str) -> None:
        """Count one failure; the one that empties the address's bucket blocks it."""
        self.failed_total += 1
        if not self.failures:
            return
        key = counted_as(address)
        client = self._tracked.pop(key, None) or _Tracked(TokenBucket(self.rate, self.failures, self.clock))
        self._tracked[key] = client
        if len(self._tracked) > self.capacity:
            self._tracked.popitem(last=False)
        client.bucket.reserve()
        if client.bucket.tokens >= 1:
            return
        # The block is the penalty: afterwards the address starts again with a full count.
        client.bucket = TokenBucket(self.rate, self.failures, self.clock)
        client.blocked_until = self.clock() + self.block_seconds
        self.blocked_total += 1
        shown = shown_credential(credential)
        log.warning(
            f"too many failed authentications from {address} ({self.failures} in {self.window:g} s;"
            f" last tried {shown}): refused for {self.block_seconds:g} s",
            extra={
                "event": "auth.blocked",
                "client_address": address,
                "key_prefix": shown,
                "blocked_seconds": self.block_seconds,
            },
        )


@dataclass
class _Tracked:
    bucket: TokenBucket
    blocked_until: float = 0.0


@functools.lru_cache(maxsize=4096)
def counted_as(address: str) -> str:
    """The key failures are counted under: the address, or its /64 for IPv6."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:  # not an IP (a Unix socket's peer): counted as itself
        return address
    if ip.version == 6:
        return str(ipaddress.ip_network(f"{ip}/{IPV6_HOST_PREFIX}", strict=False))
    return str(ip)


def shown_credential(credential: str) -> str:
    """What a log may show of a credential tried: an API key's public prefix (``af_`` and 8
    hex, as keys are listed), else its first few characters; never enough to use it."""
    key_id = f"{tenants.KEY_PREFIX}_"
    visible = credential[: len(key_id) + KEY_ID_HEX] if credential.startswith(key_id) else credential[:SHOWN_CHARS]
    # The credential is the client's text: nothing in it may forge or break a log line.
    return re.sub(r"[^A-Za-z0-9_.~+/=-]", "?", visible)
