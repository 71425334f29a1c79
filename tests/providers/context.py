"""The context the core lends a tenant's provider, with loopback opened for the local fakes."""

from __future__ import annotations

import ipaddress

import aiohttp

from alertflow.providers import ProviderContext
from alertflow.providers.netguard import OutboundGuard

# As `[security] allowed_private_networks = ["127.0.0.0/8"]`: the fakes listen on 127.0.0.1.
LOOPBACK_OPEN = OutboundGuard(allowed=(ipaddress.ip_network("127.0.0.0/8"),))


def provider_context(
    http: aiohttp.ClientSession | None = None,
    public_url: str | None = None,
    guard: OutboundGuard = LOOPBACK_OPEN,
    concurrency: int | None = None,
) -> ProviderContext:
    return ProviderContext(database=None, public_url=public_url, http=http, guard=guard, concurrency=concurrency)  # type: ignore[arg-type]
