"""A DNS a test re-points while the app runs: the trick DNS rebinding plays."""

from __future__ import annotations

import socket
from collections.abc import Sequence

from alertflow.providers.netguard import AddrInfo, system_resolve


class FakeDns:
    """Resolves the names in ``records`` to their address, anything else as the system does.

    Pass it as ``resolve`` to ``create_app``; change ``records`` between configuring a
    target and sending to it.
    """

    def __init__(self) -> None:
        self.records: dict[str, str] = {}

    def __call__(self, host: str, port: int) -> Sequence[AddrInfo]:
        address = self.records.get(host.rstrip(".").lower())
        if address is None:
            return system_resolve(host, port)
        if ":" in address:
            return [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port, 0, 0))]
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]
