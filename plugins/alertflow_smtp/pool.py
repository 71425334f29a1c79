"""A few connected SMTP sessions, reused across sends to one server."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from aiosmtplib import SMTPResponseException, SMTPServerDisconnected

from .session import Session


class ConnectionPool:
    """Hands each send a connected session; keeps at most ``size`` connections open.

    Connecting (TCP, TLS, EHLO, AUTH) costs several round trips, sending one message only
    MAIL/RCPT/DATA: reuse is what makes SMTP fast (shared/PERFORMANCE.md).
    """

    def __init__(self, connect: Callable[[], Awaitable[Session]], size: int) -> None:
        self._connect = connect
        self._idle: list[Session] = []
        self._slots = asyncio.Semaphore(size)
        self._closed = False

    async def sendmail(self, sender: str, recipient: str, data: bytes) -> str:
        """Send ``data`` (CRLF line endings) from and to these ASCII addresses (checked by
        the caller); returns the text of the server's reply to DATA (after its code)."""
        async with self._slots:
            session = self._take_idle()
            if session is not None:
                try:
                    return await self._send(session, sender, recipient, data)
                except SMTPServerDisconnected:
                    # Servers drop idle connections (RFC 5321 §4.5.3.2 allows 5 minutes);
                    # a drop racing our write is noticed only then. Nothing was accepted on a
                    # connection that is gone, so one fresh attempt is safe.
                    pass
            return await self._send(await self._connect(), sender, recipient, data)

    async def close(self) -> None:
        self._closed = True  # a send still in flight closes its connection when done
        idle, self._idle = self._idle, []
        await asyncio.gather(*(session.quit() for session in idle), return_exceptions=True)

    def _take_idle(self) -> Session | None:
        while self._idle:
            session = self._idle.pop()
            if session.usable:
                return session
            session.close()  # gone, or a reply came unasked (an idle server's 421)
        return None

    async def _send(self, session: Session, sender: str, recipient: str, data: bytes) -> str:
        try:
            reply = await session.send(sender, recipient, data)
        except SMTPResponseException:
            # A refusal leaves the session usable: the transaction has sent RSET.
            self._release(session)
            raise
        except BaseException:
            # Timeouts, drops, cancellation: the session is in an unknown state.
            session.close()
            raise
        self._release(session)
        return reply

    def _release(self, session: Session) -> None:
        if self._closed or not session.usable:
            session.close()
        else:
            self._idle.append(session)
