"""Where outbound requests may go: a tenant cannot aim AlertFlow at its own network.

A URL or host a tenant configures (a webhook URL, a provider's API base URL, an SMTP host) or
carries in its data (a browser's Web Push endpoint) is checked twice: when it is set, so the
API can refuse it with a 422 naming the field, and again on every connection, against the
address actually connected to, so a name that resolves to a public address at configuration
and to 127.0.0.1 later (DNS rebinding) gets nowhere.

Refused unless ``[security] allowed_private_networks`` opens it: every address that is not
public unicast - loopback, link-local (169.254/16, fe80::/10, where cloud metadata lives),
private (RFC 1918, fc00::/7), unspecified, multicast, shared (100.64/10) and reserved ranges.
Addresses are parsed as the operating system does (``getaddrinfo``), so ``0x7f000001``,
``2130706433``, ``127.1`` and ``[::ffff:127.0.0.1]`` are all loopback. Providers the operator
configures in alertflow.toml are trusted and use :meth:`OutboundGuard.unrestricted`.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import aiohappyeyeballs
import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# socket.getaddrinfo's answer: (family, type, proto, canonname, sockaddr).
AddrInfo = tuple[int, int, int, str, tuple[Any, ...]]
# Resolves (host, port) to TCP addresses, as socket.getaddrinfo does; tests inject a fake one
# to play a DNS server that changes its answer.
Resolve = Callable[[str, int], Sequence[AddrInfo]]
# Numeric flags for aiohttp: the addresses we hand it are literal.
NUMERIC_FLAGS = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV
# How long the check at configuration waits for DNS. A name that does not resolve in time is
# let through: the check at connection time still applies, and a slow resolver must not make
# a PUT hang.
CONFIG_RESOLVE_SECONDS = 5.0


def system_resolve(host: str, port: int) -> Sequence[AddrInfo]:
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


class RefusedAddress(OSError):
    """A connection to an address the guard refuses. An OSError, so every client library
    reports it as the failed connection it is (and the delivery is retried, like any other
    connection a configuration change can fix)."""

    def __init__(self, message: str) -> None:
        super().__init__(errno.EACCES, message)

    def __str__(self) -> str:
        return self.strerror or ""


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDRs as networks; raises ValueError naming the bad one."""
    out = []
    for value in values:
        try:
            out.append(ipaddress.ip_network(value, strict=False))
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a network (expected CIDR such as 10.0.0.0/8)") from exc
    return tuple(out)


def kind_of(address: IPAddress) -> str | None:
    """Why ``address`` is not a public unicast address, or None when it is one."""
    checks = (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("not publicly routable", not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def plain(address: IPAddress) -> IPAddress:
    """An IPv4 address carried in IPv6 (``::ffff:127.0.0.1``) is that IPv4 address: the
    kernel connects to it as such."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def is_localhost_name(host: str) -> bool:
    # RFC 6761 §6.3: "localhost" and every name under it mean this machine, whatever DNS says.
    name = host.rstrip(".").lower()
    return name == "localhost" or name.endswith(".localhost")


@dataclass(frozen=True)
class OutboundGuard:
    """The policy for outbound connections, and the clients that enforce it.

    ``allowed`` are the networks opened by ``[security] allowed_private_networks``;
    ``restricted=False`` is the operator's own providers, which may go anywhere.
    """

    allowed: tuple[IPNetwork, ...] = ()
    resolve: Resolve = system_resolve
    restricted: bool = True

    def unrestricted(self) -> OutboundGuard:
        return replace(self, restricted=False)

    # -- the policy

    def refusal(self, address: str) -> str | None:
        """Why a connection to the literal ``address`` is refused, or None when it is allowed."""
        if not self.restricted:
            return None
        ip = plain(ipaddress.ip_address(address.split("%", 1)[0]))  # an IPv6 zone is no part of it
        kind = kind_of(ip)
        if kind is None or any(ip in network for network in self.allowed):
            return None
        return f"{ip} is {kind}; set [security] allowed_private_networks to allow it"

    def check(self, address: str) -> None:
        why = self.refusal(address)
        if why is not None:
            raise RefusedAddress(f"refused: {why}")

    def allowed_infos(self, host: str, port: int) -> list[AddrInfo]:
        """``host``'s addresses that may be connected to; raises :class:`RefusedAddress` when
        none may (socket.gaierror when it does not resolve)."""
        infos = list(self.resolve(host, port))
        allowed = [i for i in infos if self.refusal(i[4][0]) is None]
        if infos and not allowed:
            self.check(infos[0][4][0])
        return allowed

    async def refusal_for_host(self, host: str) -> str | None:
        """At configuration: why ``host`` is refused, or None. Every address it resolves to
        must be allowed; a name that does not resolve now passes (checked again on connect)."""
        if not self.restricted:
            return None
        # Refused by name whatever DNS says, unless loopback itself is opened.
        if is_localhost_name(host) and self.refusal("127.0.0.1") is not None:
            return f"{host} is this machine (loopback); set [security] allowed_private_networks to allow it"
        try:
            async with asyncio.timeout(CONFIG_RESOLVE_SECONDS):
                infos = await asyncio.to_thread(self.resolve, host, 0)
        except (OSError, UnicodeError, TimeoutError):
            return None
        return next((why for i in infos if (why := self.refusal(i[4][0])) is not None), None)

    # -- the clients

    def socket_factory(self, addr_info: AddrInfo) -> socket.socket:
        """For aiohttp: checked on every connection, with the address actually connected to
        (aiohttp skips its resolver for IP literals, so checking there would not do)."""
        family, type_, proto, _, sockaddr = addr_info
        self.check(sockaddr[0])
        return socket.socket(family, type_, proto)

    def session(self, limit: int = 100) -> aiohttp.ClientSession:  # aiohttp's default limit
        """An aiohttp session that connects only where this guard allows, at most ``limit``
        connections at once. No cookie jar: a cookie one tenant's endpoint sets must never
        ride along to another's."""
        connector = aiohttp.TCPConnector(limit=limit, resolver=_Resolver(self), socket_factory=self.socket_factory)
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar())

    async def open_socket(self, host: str, port: int) -> socket.socket:
        """A TCP socket connected to an allowed address of ``host`` (for clients that take
        a connected socket, such as aiosmtplib); TLS still verifies ``host`` by name."""
        infos = await asyncio.to_thread(self.allowed_infos, host, port)
        if not infos:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} has no address")
        return await aiohappyeyeballs.start_connection(infos)


class _Resolver(AbstractResolver):
    """aiohttp's DNS lookups through the guard's resolver, so every client resolves alike."""

    def __init__(self, guard: OutboundGuard) -> None:
        self._guard = guard

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        infos = await asyncio.to_thread(self._guard.resolve, host, port)
        return [
            ResolveResult(hostname=host, host=sa[0], port=sa[1], family=fam, proto=proto, flags=NUMERIC_FLAGS)
            for fam, _, proto, _, sa in infos
            if family in (socket.AF_UNSPEC, fam)
        ]

    async def close(self) -> None:
        pass
