"""The hub's flow control, with sockets that stand in for a client that stopped reading."""

from __future__ import annotations

import asyncio
from typing import cast

import pytest

from alertflow.config import InboxConfig
from alertflow.coordination import InProcessCoordinator
from alertflow.inbox import hub as hub_module
from alertflow.inbox.hub import CLOSE_TOO_SLOW, Hub
from alertflow.inbox.items import Subscriber
from alertflow.storage.database import Database
from tests.conftest import WAIT_SECONDS

U1 = Subscriber("ten_1", "u1")


class FakeSocket:
    """Records what was sent; ``stalled`` sockets never finish a send, like a full TCP window."""

    def __init__(self, stalled: bool = False, deaf: bool = False) -> None:
        self.sent: list[str] = []
        self.closed_with: int | None = None
        self.closing = asyncio.Event()
        self.aborted = asyncio.Event()
        self._stalled = stalled
        self._deaf = deaf  # never answers a close frame either
        self.received = asyncio.Event()

    async def send_str(self, data: str, compress: int | None = None) -> None:
        if self._stalled:
            await asyncio.Event().wait()
        self.sent.append(data)
        self.received.set()

    async def close(self, *, code: int = 1000, message: bytes = b"", drain: bool = True) -> bool:
        self.closed_with = code
        self.closing.set()
        if self._deaf:
            await asyncio.Event().wait()
        return True

    def abort(self) -> None:
        self.aborted.set()


def attach(hub: Hub, socket: FakeSocket) -> None:
    hub.connect(U1, socket, socket.abort).start()


@pytest.fixture
def hub() -> Hub:
    # Its flusher is not started, so nothing is read: these tests push events, not new items.
    return Hub(
        cast(Database, None), InboxConfig.model_validate({"send_queue_size": 2}), InProcessCoordinator(lambda: 0.0)
    )


async def test_a_client_that_stops_reading_is_dropped_and_the_others_get_everything(hub: Hub) -> None:
    slow, fast = FakeSocket(stalled=True), FakeSocket()
    attach(hub, slow)
    attach(hub, fast)
    for n in range(4):
        hub.changed(U1, {"type": "archive", "id": f"inb_{n}"})
        await asyncio.sleep(0)  # let the writers run, as the event loop would between events
    async with asyncio.timeout(WAIT_SECONDS):
        while len(fast.sent) < 4:
            fast.received.clear()
            await fast.received.wait()
    # The slow writer holds one message and its queue two; the next one overflows it.
    await asyncio.wait_for(slow.closing.wait(), WAIT_SECONDS)
    assert slow.closed_with == CLOSE_TOO_SLOW and not slow.aborted.is_set()


async def test_a_dropped_client_that_does_not_take_the_close_frame_is_cut_off(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub_module, "DROP_GRACE_SECONDS", 0.01)
    deaf = FakeSocket(stalled=True, deaf=True)
    attach(hub, deaf)
    for n in range(4):
        hub.changed(U1, {"type": "archive", "id": f"inb_{n}"})
        await asyncio.sleep(0)
    await asyncio.wait_for(deaf.aborted.wait(), WAIT_SECONDS)
    assert deaf.closed_with == CLOSE_TOO_SLOW
