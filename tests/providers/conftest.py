"""What every provider test needs: the fakes, an HTTP session, and providers closed after."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

from alertflow.providers import Provider

from .context import LOOPBACK_OPEN


@pytest.fixture
async def http_session() -> AsyncIterator[aiohttp.ClientSession]:
    """The shared session the core lends a tenant's providers through ``ProviderContext.http``:
    guarded, with loopback opened for the fakes."""
    async with LOOPBACK_OPEN.session() as session:
        yield session


@pytest.fixture
async def closing() -> AsyncIterator[Callable[[Provider], Provider]]:
    """``provider = closing(SomeProvider(...))``: closed when the test ends, as the core does."""
    opened: list[Provider] = []

    def register(provider: Provider) -> Provider:
        opened.append(provider)
        return provider

    yield register
    for provider in opened:
        await provider.close()
