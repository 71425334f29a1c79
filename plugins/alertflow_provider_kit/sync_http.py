"""``requests`` (the Twilio and FCM SDKs' client) held to the same outbound guard as aiohttp.

Every new connection resolves its host through the guard and connects only to an allowed
address - the one actually connected to, so a name re-pointed after it was configured (DNS
rebinding) is refused too. TLS still verifies the certificate against the host name.
"""

from __future__ import annotations

import socket
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from alertflow.providers.netguard import OutboundGuard, RefusedAddress


class GuardedAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections go only where ``guard`` allows."""

    def __init__(self, guard: OutboundGuard, **kwargs: Any) -> None:
        self._pools = _guarded_pools(guard)
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pools


class _NoRedirects(requests.Session):
    """A 3xx comes back as the answer: following it would re-send the request, credentials
    and all, wherever it points."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        return super().send(request, **{**kwargs, "allow_redirects": False})


def guarded_session(guard: OutboundGuard, **adapter_options: Any) -> requests.Session:
    """A session that connects only where ``guard`` allows and follows no redirect.

    Environment proxies are ignored: a proxy would connect on our behalf, past the check.
    """
    session = _NoRedirects()
    session.trust_env = False
    adapter = GuardedAdapter(guard, **adapter_options)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _guarded_pools(guard: OutboundGuard) -> dict[str, type[HTTPConnectionPool]]:
    class Connection(HTTPConnection):
        def _new_conn(self) -> Any:
            return _connect_checked(self, guard, super()._new_conn)

    class TlsConnection(HTTPSConnection):
        def _new_conn(self) -> Any:
            return _connect_checked(self, guard, super()._new_conn)

    class Pool(HTTPConnectionPool):
        ConnectionCls = Connection

    class TlsPool(HTTPSConnectionPool):
        ConnectionCls = TlsConnection

    return {"http": Pool, "https": TlsPool}


def _connect_checked(conn: HTTPConnection, guard: OutboundGuard, connect: Any) -> Any:
    """urllib3's own connect, aimed at each allowed address of the host in turn."""
    host = conn._dns_host
    try:
        infos = guard.allowed_infos(host, conn.port or 0)
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    except RefusedAddress as exc:
        raise NewConnectionError(
            conn, f"Failed to establish a new connection: {exc.strerror}"
        ) from exc
    error: Exception | None = None
    try:
        for info in infos:
            conn._dns_host = info[4][0]
            try:
                return connect()
            except ConnectTimeoutError as exc:  # refused, unreachable or slow: try the next address
                error = exc
    finally:
        conn._dns_host = host
    raise error or NewConnectionError(
        conn, f"Failed to establish a new connection: {host} has no address"
    )
