"""LISTEN/NOTIFY on PostgreSQL: the wire between cluster nodes' coordinators (cluster.py).

Two connections of their own, outside the storage pool: one only listens (autocommit,
``LISTEN``), so a busy pool never delays a signal and a long transaction never holds one
back; the other sends with ``pg_notify``, a whole burst in one statement. PostgreSQL
delivers a notification to every listening session, the sender's own node included, in
commit order; a payload must stay under 8000 bytes (the caller splits its bursts).

A cut listening connection (the server restarted, failed over, or a network fault) is
reconnected with backoff; ``on_connected(False)`` then tells the caller it may have missed
notifications while it was away, since PostgreSQL keeps none for an absent listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

import psycopg
from psycopg.conninfo import make_conninfo

log = logging.getLogger("alertflow.cluster")

# One channel for every signal; the payload says which (cluster.py).
CHANNEL = "alertflow_signals"
# PostgreSQL refuses a NOTIFY payload of 8000 bytes or more (the default build's limit).
MAX_PAYLOAD_BYTES = 7999
# Reconnection backoff: quick for a blip, capped so a long outage costs one attempt per
# few seconds per node, not a storm against a database that is starting up.
BACKOFF_FIRST_SECONDS = 0.1
BACKOFF_MAX_SECONDS = 3.0
# TCP keepalives on both connections: a listener whose server vanished without closing the
# connection (a failed-over VM, a cut cable) notices within ~20 s instead of never.
# A connection attempt gives up after connect_timeout and backs off (a database that accepts
# TCP but never answers must not hang the listener).
_OPTIONS = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "connect_timeout": 10,
}


async def _connect(url: str, password: str | None) -> psycopg.AsyncConnection[tuple[object, ...]]:
    # A password given apart ([storage] password_file) goes in; else the URL's or $PGPASSWORD.
    options = {**_OPTIONS, "password": password} if password else _OPTIONS
    return await psycopg.AsyncConnection.connect(make_conninfo(url, **options), autocommit=True)


class LinkDown(Exception):
    """The database could not be reached to send; nothing of the call was sent."""


class Link:
    """This node's end of the wire: ``send`` payloads to every node; each payload any node
    sent (this one's included) reaches ``on_payload``."""

    def __init__(
        self, url: str, password: str | None, on_payload: Callable[[str], None], on_connected: Callable[[bool], None]
    ) -> None:
        self.url, self.password = url, password
        self.on_payload = on_payload
        self.on_connected = on_connected
        self.listening = asyncio.Event()  # set while the listening connection is up
        self.reconnects = 0  # for /metrics: how often the wire was cut and joined again
        self._listener: asyncio.Task[None] | None = None
        self._sender: psycopg.AsyncConnection[tuple[object, ...]] | None = None

    def start(self) -> None:
        self._listener = asyncio.create_task(self._listen(), name="cluster-listen")

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        await self._drop_sender()

    async def send(self, payloads: Sequence[str]) -> None:
        """NOTIFY every payload, in order, in one round trip; raises :class:`LinkDown` if the
        database cannot be reached (the connection is made again on the next call)."""
        if not payloads:
            return
        try:
            if self._sender is None or self._sender.closed:
                self._sender = await _connect(self.url, self.password)
            await self._sender.execute(
                "SELECT pg_notify(%s, payload) FROM unnest(%s::text[]) WITH ORDINALITY AS p(payload, n) ORDER BY n",
                (CHANNEL, list(payloads)),
            )
        except psycopg.Error as exc:
            await self._drop_sender()
            raise LinkDown(str(exc)) from exc

    async def _drop_sender(self) -> None:
        sender, self._sender = self._sender, None
        if sender is not None:
            with contextlib.suppress(psycopg.Error):
                await sender.close()

    async def _listen(self) -> None:
        backoff, first, warned = BACKOFF_FIRST_SECONDS, True, False
        while True:
            try:
                async with await _connect(self.url, self.password) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    backoff, warned = BACKOFF_FIRST_SECONDS, False
                    if not first:
                        self.reconnects += 1
                        log.info("cluster link reconnected")
                    self.on_connected(first)
                    first = False
                    async for notify in conn.notifies():
                        self.on_payload(notify.payload)
            except psycopg.Error as exc:
                if not warned:  # once per outage: the attempts that follow fail alike
                    log.warning("cluster link down; reconnecting", extra={"error": str(exc)})
                    warned = True
            self.listening.clear()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)
