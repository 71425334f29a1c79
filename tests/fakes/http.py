"""The base of the HTTP fakes: an aiohttp app on 127.0.0.1, recording what it receives."""

from __future__ import annotations

import asyncio
import socket
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web
from multidict import CIMultiDictProxy

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class ReceivedRequest:
    """One request as the fake saw it, before any scripted or normal answer."""

    method: str
    path: str
    headers: CIMultiDictProxy[str]
    body: bytes
    query_string: str = ""


@dataclass(frozen=True)
class Reply:
    """A scripted answer: status, JSON (or text) body, headers; ``hang`` never answers, so
    the client's own timeout is what ends the request."""

    status: int = 200
    json: Any = None
    text: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    hang: bool = False

    def response(self) -> web.Response:
        if self.json is not None:
            return web.json_response(self.json, status=self.status, headers=self.headers)
        return web.Response(status=self.status, text=self.text, headers=self.headers)


class HttpPeer:
    """An aiohttp fake: ``async with Fake() as peer``, then ``peer.url("/path")``.

    ``requests`` lists every request received; :meth:`script` makes the next requests (to
    ``path``, or to any path) get the given replies instead of the fake's normal behaviour.
    ``host`` is the loopback address it listens on (another one, 127.0.0.2, plays a second
    machine).
    """

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.app = web.Application(middlewares=[self._record_and_script])
        self.requests: list[ReceivedRequest] = []
        self._scripts: dict[str | None, deque[Reply]] = {}
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self.port = 0

    def url(self, path: str = "") -> str:
        return f"http://{self.host}:{self.port}{path}"

    def script(self, *replies: Reply, path: str | None = None) -> None:
        self._scripts.setdefault(path, deque()).extend(replies)

    async def __aenter__(self) -> Self:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._stopping.set()  # releases hanging replies
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _record_and_script(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        body = await request.read()
        self.requests.append(ReceivedRequest(request.method, request.path, request.headers, body, request.query_string))
        script = self._scripts.get(request.path) or self._scripts.get(None)
        if not script:
            return await handler(request)
        reply = script.popleft()
        if reply.hang:
            await self._stopping.wait()
        return reply.response()


def closed_port_url(path: str = "") -> str:
    """A URL on 127.0.0.1 where nothing listens: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"
