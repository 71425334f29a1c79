"""Pytest fixtures that start the fakes, one per test, on 127.0.0.1.

Load with ``pytest_plugins = ["tests.fakes.fixtures"]`` in a conftest.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from .fcm import FakeFcm
from .msg91 import FakeMsg91
from .smtp import FakeSmtpServer
from .tls import TlsCert, make_self_signed
from .twilio import FakeTwilio
from .webhook import WebhookReceiver
from .webpush import FakePushService

StartSmtp = Callable[..., Awaitable[FakeSmtpServer]]


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> TlsCert:
    """A self-signed certificate for 127.0.0.1 / localhost (cert_file, key_file)."""
    directory: Path = tmp_path_factory.mktemp("tls")
    return make_self_signed(directory)


@pytest.fixture
async def fake_smtp() -> AsyncIterator[FakeSmtpServer]:
    """A plain SMTP server: no TLS, no AUTH."""
    async with FakeSmtpServer() as server:
        yield server


@pytest.fixture
async def start_fake_smtp() -> AsyncIterator[StartSmtp]:
    """``await start_fake_smtp(security=..., cert=..., credentials=...)``: servers of any
    configuration, all stopped when the test ends."""
    async with AsyncExitStack() as stack:

        async def start(**options: Any) -> FakeSmtpServer:
            return await stack.enter_async_context(FakeSmtpServer(**options))

        yield start


@pytest.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as peer:
        yield peer


@pytest.fixture
async def fake_msg91() -> AsyncIterator[FakeMsg91]:
    async with FakeMsg91() as peer:
        yield peer


@pytest.fixture
async def fake_fcm() -> AsyncIterator[FakeFcm]:
    async with FakeFcm() as peer:
        yield peer


@pytest.fixture
async def fake_push_service() -> AsyncIterator[FakePushService]:
    async with FakePushService() as peer:
        yield peer


@pytest.fixture
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    async with WebhookReceiver() as peer:
        yield peer
