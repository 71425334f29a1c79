"""The WebSocket hub: every open inbox connection, by user, and what is pushed to them.

New items (an in-app delivery decided ``sent``: ``item_listener``) and reads, read-alls and
archives (the API) reach it only through the coordinator's inbox signals, so a hub hears
what any node stored or changed. One flusher task turns them into messages: it
reads every new item and every changed user's unread count in as few queries as it can and
hands each message to each of that user's connections. Because the flusher runs one pass at a
time and reads after the change committed, the last count a client sees is the current one.
An item sent with a ``replace_key`` that hid an earlier one goes as
``{"type": "replace", "replaces": <earlier id>, "data": item}``.

Each connection has a bounded queue and a writer task of its own (as ntfy copies its
subscriber list and sends to each separately): a client that stops reading fills only its
own queue and is then disconnected (close code 4001), never slowing anyone else. It
reconnects with ``?since=`` and receives what it missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from aiohttp import WSCloseCode, web

from ..config import InboxConfig
from ..coordination import Coordinator, Event
from ..delivery.queue import Decision, Job
from ..storage import inbox_items
from ..storage.database import Database
from . import items
from .items import Subscriber

log = logging.getLogger("alertflow.hub")

CLOSE_TOO_SLOW = 4001  # private-use range (RFC 6455 §7.4.2): "your send queue overflowed"
# A dropped client is given this long to take its close frame before the socket is cut:
# it is not reading, so the frame may never get through.
DROP_GRACE_SECONDS = 1.0
# Shutdown waits this long for each client to answer its close frame.
SHUTDOWN_GRACE_SECONDS = 5.0


class Socket(Protocol):
    """What the hub needs of a WebSocket (aiohttp's ``WebSocketResponse`` is one)."""

    async def send_str(self, data: str, compress: int | None = None) -> None: ...

    async def close(self, *, code: int = ..., message: bytes = ..., drain: bool = ...) -> bool: ...


class TooManyConnections(Exception):
    """The user already has ``max_connections_per_user`` open."""


class HubClosed(Exception):
    """The server is shutting down and takes no new connections."""


class Connection:
    """One open WebSocket of a subscriber: a bounded send queue and the task that writes it out."""

    def __init__(self, subscriber: Subscriber, socket: Socket, queue_size: int, abort: Callable[[], None]) -> None:
        self.subscriber = subscriber
        self.socket = socket
        self.closed = False
        self.close_code: int | None = None
        self._abort = abort
        self._queue: asyncio.Queue[str] = asyncio.Queue(queue_size)
        self._writer: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write(), name=f"inbox-writer-{self.subscriber.user_id}")

    def send(self, message: dict[str, Any]) -> None:
        self.offer(json.dumps(message))

    def offer(self, text: str) -> None:
        """Queue an encoded message; a full queue means the client is too slow and is dropped."""
        if self.closed:
            return
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            log.warning(
                "inbox client too slow; disconnected",
                extra={"tenant_id": self.subscriber.tenant_id, "user_id": self.subscriber.user_id},
            )
            self._mark_closed(CLOSE_TOO_SLOW)
            self._closing = asyncio.create_task(self._shut(b"send queue full", DROP_GRACE_SECONDS))

    async def _write(self) -> None:
        with contextlib.suppress(ConnectionError):  # the client went away; the handler cleans up
            while True:
                await self.socket.send_str(await self._queue.get())

    async def close(self, code: int, message: bytes, grace: float) -> None:
        """Close with ``code``; a client that does not take the close frame within ``grace`` is cut off."""
        if self.closed:
            return
        self._mark_closed(code)
        await self._shut(message, grace)

    def _mark_closed(self, code: int) -> None:
        self.closed, self.close_code = True, code

    async def _shut(self, message: bytes, grace: float) -> None:
        await self.stop()
        try:
            async with asyncio.timeout(grace):
                await self.socket.close(code=self.close_code or WSCloseCode.OK, message=message, drain=False)
        except TimeoutError:
            self._abort()

    async def stop(self) -> None:
        """Stop writing (the socket closed, or is about to)."""
        if self._writer is not None:
            self._writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer


class Hub:
    """Open inbox connections by subscriber, and the pushes to them."""

    def __init__(self, database: Database, config: InboxConfig, coordinator: Coordinator) -> None:
        self.database = database
        self.config = config
        self._users: dict[Subscriber, set[Connection]] = {}
        self._new_items: list[str] = []
        self._dirty: set[Subscriber] = set()
        self._wake = asyncio.Event()
        self._accepting = True
        self._erasing: set[asyncio.Task[None]] = set()
        coordinator.on_inbox_item(self._item_stored)
        coordinator.on_inbox_changed(self._user_changed)
        coordinator.on_user_erased(self._user_erased)

    def connect(self, subscriber: Subscriber, socket: Socket, abort: Callable[[], None]) -> Connection:
        """Register a connection (before its handshake, so nothing committed meanwhile is missed)."""
        if not self._accepting:
            raise HubClosed
        connections = self._users.setdefault(subscriber, set())
        if len(connections) >= self.config.max_connections_per_user:
            raise TooManyConnections
        connection = Connection(subscriber, socket, self.config.send_queue_size, abort)
        connections.add(connection)
        return connection

    def disconnect(self, connection: Connection) -> None:
        connections = self._users.get(connection.subscriber)
        if connections is not None:
            connections.discard(connection)
            if not connections:
                del self._users[connection.subscriber]

    async def forget(self, subscriber: Subscriber) -> None:
        """The user was erased: their open sockets close (1008) and their tokens stop working."""
        for connection in list(self._users.pop(subscriber, ())):
            await connection.close(WSCloseCode.POLICY_VIOLATION, b"user erased", SHUTDOWN_GRACE_SECONDS)

    def _user_erased(self, tenant_id: str, user_id: str) -> None:
        subscriber = Subscriber(tenant_id, user_id)
        if subscriber in self._users:
            task = asyncio.create_task(self.forget(subscriber), name=f"inbox-erase-{user_id}")
            self._erasing.add(task)  # held: the loop keeps only weak references to tasks
            task.add_done_callback(self._erasing.discard)

    def connections(self, subscriber: Subscriber) -> int:
        return len(self._users.get(subscriber, ()))

    def _item_stored(self, tenant_id: str, user_id: str, item_id: str) -> None:
        """A stored in-app item goes to its user's open connections."""
        subscriber = Subscriber(tenant_id, user_id)
        if subscriber in self._users:  # nobody listening: nothing to read
            self._new_items.append(item_id)
            self._dirty.add(subscriber)
            self._wake.set()

    def changed(self, subscriber: Subscriber, event: Event) -> None:
        """A change made through the API or a socket: tell all the user's connections, then their count."""
        self._send(subscriber, event)
        if subscriber in self._users:
            self._dirty.add(subscriber)
            self._wake.set()

    def _user_changed(self, tenant_id: str, user_id: str, event: Event) -> None:
        self.changed(Subscriber(tenant_id, user_id), event)

    def _send(self, subscriber: Subscriber, message: dict[str, Any]) -> None:
        text = json.dumps(message)  # encoded once for every connection
        for connection in list(self._users.get(subscriber, ())):
            connection.offer(text)

    async def _flush(self) -> None:
        item_ids, self._new_items = self._new_items, []
        dirty, self._dirty = self._dirty, set()
        for found in await inbox_items.by_ids(self.database, item_ids):
            message = (
                {"type": "replace", "replaces": found.replaces, "data": found.item}
                if found.replaces
                else {"type": "notification", "data": found.item}
            )
            self._send(Subscriber(found.tenant_id, found.user_id), message)
        live = [s for s in dirty if s in self._users]
        counts = await items.unread_counts(self.database, live)
        for subscriber in live:
            self._send(subscriber, {"type": "unread_count", "count": counts.get(subscriber, 0)})

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._flush()
            except Exception:  # a failed read must not end live updates for everyone
                log.exception("inbox fan-out failed")

    async def running(self, app: web.Application) -> AsyncIterator[None]:
        """cleanup_ctx: the flusher runs while the app does."""
        flusher = asyncio.create_task(self._run(), name="inbox-hub")
        yield
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher

    async def shutdown(self, app: web.Application) -> None:
        """on_shutdown: close every socket with 1001 so handlers return and clients reconnect elsewhere."""
        self._accepting = False
        everyone = [c for connections in self._users.values() for c in connections]
        await asyncio.gather(
            *(c.close(WSCloseCode.GOING_AWAY, b"server shutting down", SHUTDOWN_GRACE_SECONDS) for c in everyone)
        )


def item_listener(coordinator: Coordinator) -> Callable[[Job, Decision], None]:
    """A Deliverer listener: each in-app item stored is signalled to every hub."""

    def on_decision(job: Job, decision: Decision) -> None:
        if job.channel == "inapp" and decision.status == "sent" and decision.provider_message_id and job.user_id:
            coordinator.inbox_item(job.tenant_id, job.user_id, decision.provider_message_id)

    return on_decision


HUB = web.AppKey("hub", Hub)
