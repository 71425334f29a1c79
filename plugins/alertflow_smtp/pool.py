"""A few connected SMTP clients, reused across sends to one server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import aiosmtplib
from aiosmtplib import (
    SMTPDataError,
    SMTPReadTimeoutError,
    SMTPRecipientRefused,
    SMTPResponse,
    SMTPResponseException,
    SMTPSenderRefused,
    SMTPServerDisconnected,
    SMTPStatus,
)
from aiosmtplib.protocol import SMTPProtocol


class ConnectionPool:
    """Hands each send a connected client; keeps at most ``size`` connections open.

    Connecting (TCP, TLS, EHLO, AUTH) costs several round trips, sending one message only
    MAIL/RCPT/DATA: reuse is what makes SMTP fast (shared/PERFORMANCE.md).
    """

    def __init__(self, connect: Callable[[], Awaitable[aiosmtplib.SMTP]], size: int) -> None:
        self._connect = connect
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(size)
        self._closed = False

    async def sendmail(self, sender: str, recipient: str, data: bytes) -> str:
        """Send ``data`` (CRLF line endings) from and to these ASCII addresses (checked by
        the caller); returns the text of the server's reply to DATA (after its code)."""
        async with self._slots:
            client = self._take_idle()
            if client is not None:
                try:
                    return await self._send(client, sender, recipient, data)
                except SMTPServerDisconnected:
                    # Servers drop idle connections (RFC 5321 §4.5.3.2 allows 5 minutes);
                    # aiosmtplib notices only when we write. Nothing was accepted on a
                    # connection that is gone, so one fresh attempt is safe.
                    pass
            return await self._send(await self._connect(), sender, recipient, data)

    async def close(self) -> None:
        self._closed = True  # a send still in flight closes its connection when done
        idle, self._idle = self._idle, []
        await asyncio.gather(*(client.quit() for client in idle), return_exceptions=True)
        for client in idle:
            client.close()

    def _take_idle(self) -> aiosmtplib.SMTP | None:
        while self._idle:
            client = self._idle.pop()
            if client.is_connected:
                return client
        return None

    async def _send(self, client: aiosmtplib.SMTP, sender: str, recipient: str, data: bytes) -> str:
        try:
            reply = await transaction(client, sender, recipient, data)
        except SMTPResponseException:
            # A refusal leaves the session usable: the transaction has sent RSET.
            self._release(client)
            raise
        except BaseException:
            # Timeouts, drops, cancellation: the session is in an unknown state.
            client.close()
            raise
        self._release(client)
        return reply

    def _release(self, client: aiosmtplib.SMTP) -> None:
        if self._closed:
            client.close()
        elif client.is_connected:
            self._idle.append(client)


class _ReplyTimer:
    """Each reply's allowance from one asyncio timer: expecting a reply moves ``due`` (a float)
    and nothing else; the timer, when it fires, expires ``deadline`` if the reply awaited is
    late, else sleeps again until the new ``due``. Replies come in milliseconds, so it
    fires about once a transaction. Moving the timer itself per reply (a heap entry cancelled
    and another pushed, four a message) had cost 4-6% of the loop in a drain to a sink."""

    def __init__(self, deadline: asyncio.Timeout, seconds: float | None) -> None:
        self._deadline, self._seconds = deadline, seconds
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.TimerHandle | None = None
        self.due = 0.0

    def expect(self, replies: int) -> None:
        """The next reply must come within ``replies`` times the timeout, from now."""
        if self._seconds is None:
            return
        self.due = self._loop.time() + replies * self._seconds
        if self._handle is None:
            self._handle = self._loop.call_at(self.due, self._check)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()

    def _check(self) -> None:
        now = self._loop.time()
        if now >= self.due:
            self._deadline.reschedule(now)  # expires at once: the awaited reply is late
        else:
            self._handle = self._loop.call_at(self.due, self._check)


async def transaction(client: aiosmtplib.SMTP, sender: str, recipient: str, data: bytes) -> str:
    """MAIL, RCPT and DATA for one message on a client that has said EHLO (the provider does,
    connecting); returns the text of the reply to DATA. A refusal raises as aiosmtplib's
    ``sendmail`` does, after RSET, so the connection stays usable.

    The commands go straight to the client's protocol, with aiosmtplib parsing the replies,
    and skip what ``sendmail`` does around them, each of which once cost a tenth of the event
    loop in a drain to an SMTP sink: parsing the addresses again (the caller checked them:
    ASCII, no spaces or control characters), counting CRLFs for SIZE, a lock per command (one
    send has a connection at a time), a task and a timer per reply (``wait_for`` on Python
    3.11), regular expressions over every command and message.

    Each reply gets ``client.timeout`` (DATA's two, twice that) from one :class:`_ReplyTimer`;
    a reply that does not come raises aiosmtplib's SMTPReadTimeoutError."""
    protocol = client.protocol
    if protocol is None:
        raise SMTPServerDisconnected("Server not connected")
    size = b" SIZE=%d" % len(data) if client.supports_extension("size") else b""
    deadline = asyncio.timeout(None)
    timer = _ReplyTimer(deadline, client.timeout)
    try:
        async with deadline:
            timer.expect(1)
            mail = b"MAIL FROM:<%s>%s\r\n" % (sender.encode(), size)
            reply = await _command(client, protocol, mail)
            if reply.code != SMTPStatus.completed:
                raise SMTPSenderRefused(reply.code, reply.message, sender)
            timer.expect(1)
            reply = await _command(client, protocol, b"RCPT TO:<%s>\r\n" % recipient.encode())
            if reply.code not in (SMTPStatus.completed, SMTPStatus.will_forward):
                raise SMTPRecipientRefused(reply.code, reply.message, recipient)
            timer.expect(2)
            reply = await _command(client, protocol, b"DATA\r\n")
            if reply.code != SMTPStatus.start_input:
                raise SMTPDataError(reply.code, reply.message)
            reply = await _command(client, protocol, dot_stuffed(data))
            if reply.code != SMTPStatus.completed:
                raise SMTPDataError(reply.code, reply.message)
            return reply.message
    except TimeoutError as exc:
        raise SMTPReadTimeoutError("Timed out waiting for server response") from exc
    except SMTPResponseException:
        with contextlib.suppress(ConnectionError, SMTPResponseException):
            await client.rset()
        raise
    finally:
        timer.cancel()


async def _command(client: aiosmtplib.SMTP, protocol: SMTPProtocol, line: bytes) -> SMTPResponse:
    """Write ``line`` and read its reply, as aiosmtplib's ``execute_command`` does minus its
    checks. A server that is shutting down (421) is left, as aiosmtplib leaves it."""
    protocol.write(line)  # SMTPServerDisconnected when the connection is gone
    reply = await protocol.read_response()
    if reply.code == SMTPStatus.domain_unavailable:
        client.close()
    return reply


def dot_stuffed(data: bytes) -> bytes:
    """``data`` as DATA carries it (RFC 5321 §4.5.2): CRLF line endings, a line that starts
    with a dot given another, and the lone dot that ends the message."""
    crlf = data.count(b"\r\n")
    if data.count(b"\n") != crlf or data.count(b"\r") != crlf:  # a bare CR or LF
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    if data.startswith(b"."):
        data = b"." + data
    return data.replace(b"\r\n.", b"\r\n..") + b".\r\n"
