"""One SMTP connection after its handshake: mail transactions, pipelined where offered.

aiosmtplib opens the connection (TCP, TLS or STARTTLS, EHLO, AUTH); then a :class:`Session`
takes its transport over with a reply reader of our own. aiosmtplib's reader parses one reply
per read and drops bytes that come while no command awaits one, so it cannot carry
PIPELINING (RFC 2920), where MAIL, RCPT and DATA go in one write and their three replies may
come in one segment or several. Postfix, Amazon SES and SendGrid offer it: a message then
costs two round trips instead of four, and half the writes.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import cast

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

# A reply longer than this (a server streaming without line ends) fails the connection, as
# aiosmtplib's own reader does at the same size.
MAX_REPLY_BYTES = 8192 * 4
# Replies waiting to be read: a pipelined transaction has three outstanding, an idle server may
# say one thing unasked. More, and the server (a tenant's, so maybe hostile) is flooding us.
MAX_UNREAD_REPLIES = 8


class Replies(asyncio.Protocol):
    """The connection's protocol once a :class:`Session` has it: every reply the server sends,
    parsed and queued in order, for :meth:`next` to hand out."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._replies: deque[SMTPResponse] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._error: Exception | None = None

    @property
    def unread(self) -> bool:
        """A reply came that no command asked for (an idle server's 421, say), or the
        connection is gone: no further transaction should use it."""
        return bool(self._replies) or self._error is not None

    async def next(self) -> SMTPResponse:
        """The next reply, waiting for it if none is queued."""
        while not self._replies:
            if self._error is not None:
                raise self._error
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._replies.popleft()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        try:
            self._parse()
        except SMTPResponseException as exc:
            self._fail(exc)
        else:
            self._wake()

    def eof_received(self) -> bool:
        self._fail(SMTPServerDisconnected("Unexpected EOF received"))
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        lost = SMTPServerDisconnected("Connection lost")
        lost.__cause__ = exc
        self._fail(lost)

    def _parse(self) -> None:
        """Queue every complete reply in the buffer: lines ``NNN-text`` continue a reply,
        ``NNN text`` ends it (RFC 5321 §4.2.1); an incomplete one waits for more bytes."""
        buffer = self._buffer
        while True:
            lines: list[bytes] = []
            offset = 0
            while (end := buffer.find(b"\n", offset)) != -1:
                line = bytes(buffer[offset : end + 1])
                offset = end + 1
                lines.append(line)
                if line[3:4] != b"-":
                    break
            else:
                if len(buffer) > MAX_REPLY_BYTES:
                    raise SMTPResponseException(SMTPStatus.invalid_response, "Response too long")
                return
            code = lines[0][:3]
            if not code.isdigit() or any(line[:3] != code for line in lines):
                text = lines[-1].decode("utf-8", "replace").strip()
                raise SMTPResponseException(
                    SMTPStatus.invalid_response, f"Malformed SMTP response line: {text}"
                )
            message = b"\n".join(line[4:].strip(b" \t\r\n") for line in lines)
            self._replies.append(
                SMTPResponse(int(code), message.decode("utf-8", "surrogateescape"))
            )
            del buffer[:offset]
            if len(self._replies) > MAX_UNREAD_REPLIES:
                self._replies.clear()
                raise SMTPResponseException(
                    SMTPStatus.invalid_response, "More replies than commands"
                )

    def _fail(self, exc: Exception) -> None:
        if self._error is None:
            self._error = exc
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


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
        """The next ``replies`` replies must come within that many times the timeout, from now."""
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


class Session:
    """A connected SMTP session past EHLO (and TLS and AUTH, where configured).

    Each reply gets ``timeout`` seconds (pipelined ones together, that many times it); one
    that does not come raises aiosmtplib's SMTPReadTimeoutError. Refusals raise aiosmtplib's
    exceptions, as its ``sendmail`` does, after RSET, so the session stays usable.
    """

    def __init__(self, client: aiosmtplib.SMTP) -> None:
        """Take ``client``'s connection over; the client is not used again."""
        # A Transport, though uvloop's TLS one is not registered as one of asyncio's classes.
        transport = cast(asyncio.Transport | None, client.transport)
        if transport is None or transport.is_closing():
            raise SMTPServerDisconnected("Server not connected")
        self._transport = transport
        self._replies = Replies()
        transport.set_protocol(self._replies)
        self._timeout = client.timeout
        self._pipelining = client.supports_extension("pipelining")
        self._size = client.supports_extension("size")

    @property
    def usable(self) -> bool:
        return not self._transport.is_closing() and not self._replies.unread

    async def send(self, sender: str, recipient: str, data: bytes) -> str:
        """MAIL, RCPT and DATA for one message from and to these ASCII addresses (checked by
        the caller: no spaces, control characters or ``<>``), ``data`` with any line endings;
        returns the text of the server's reply to DATA (after its code).

        With PIPELINING the three commands go in one write and their replies are read after
        (RFC 2920 §3.1); without it, each waits for the one before."""
        size = b" SIZE=%d" % len(data) if self._size else b""
        commands = [
            b"MAIL FROM:<%s>%s\r\n" % (sender.encode(), size),
            b"RCPT TO:<%s>\r\n" % recipient.encode(),
            b"DATA\r\n",
        ]
        deadline = asyncio.timeout(None)
        timer = _ReplyTimer(deadline, self._timeout)
        try:
            async with deadline:
                mail, rcpt, start = await self._envelope(commands, timer)
                try:
                    _check_envelope(mail, rcpt, start, sender, recipient)
                except SMTPResponseException:
                    if start.code == SMTPStatus.start_input:
                        # DATA accepted though the envelope was not (RFC 2920 §3.1 asks
                        # servers not to): an empty message ends it before RSET.
                        self._write(b".\r\n")
                        await self._reply()
                    raise
                self._write(dot_stuffed(data))
                timer.expect(1)
                reply = await self._reply()
                if reply.code != SMTPStatus.completed:
                    raise SMTPDataError(reply.code, reply.message)
                return reply.message
        except TimeoutError as exc:
            raise SMTPReadTimeoutError("Timed out waiting for server response") from exc
        except SMTPResponseException:
            await self._reset()
            raise
        finally:
            timer.cancel()

    async def quit(self) -> None:
        """Say QUIT and wait for its reply (at most the timeout); then close."""
        try:
            async with asyncio.timeout(self._timeout):
                self._write(b"QUIT\r\n")
                await self._replies.next()
        finally:
            self.close()

    def close(self) -> None:
        self._transport.close()

    async def _envelope(self, commands: list[bytes], timer: _ReplyTimer) -> list[SMTPResponse]:
        """The replies to MAIL, RCPT and DATA. Pipelined, all three are written at once and
        read after; else each waits for the reply to the one before and the first refusal
        ends them. A 421 ends them either way (the server has closed). A command not sent,
        or whose reply was not read, gets a 503 stand-in."""
        if self._pipelining:
            self._write(b"".join(commands))
            timer.expect(len(commands))
        replies: list[SMTPResponse] = []
        for command, wanted in zip(commands, _WANTED, strict=True):
            if not self._pipelining:
                self._write(command)
                timer.expect(1)
            reply = await self._reply()
            replies.append(reply)
            if reply.code == SMTPStatus.domain_unavailable or (
                reply.code not in wanted and not self._pipelining
            ):
                break
        skipped = SMTPResponse(SMTPStatus.bad_command_sequence, "not sent")
        return replies + [skipped] * (len(commands) - len(replies))

    async def _reply(self) -> SMTPResponse:
        """The next reply; a server that is shutting down (421) is left, as aiosmtplib
        leaves it: its next reply would be none."""
        reply = await self._replies.next()
        if reply.code == SMTPStatus.domain_unavailable:
            self.close()
        return reply

    async def _reset(self) -> None:
        """RSET after a refusal, so the next transaction starts clean; a session it fails on
        is closed and not reused."""
        try:
            async with asyncio.timeout(self._timeout):
                self._write(b"RSET\r\n")
                reply = await self._reply()
            if reply.code != SMTPStatus.completed:
                self.close()
        except (TimeoutError, SMTPServerDisconnected, SMTPResponseException):
            self.close()

    def _write(self, data: bytes) -> None:
        if self._transport.is_closing():
            raise SMTPServerDisconnected("Connection lost")
        self._transport.write(data)


# The replies that let a transaction go on, for MAIL, RCPT and DATA.
_WANTED = (
    (SMTPStatus.completed,),
    (SMTPStatus.completed, SMTPStatus.will_forward),
    (SMTPStatus.start_input,),
)


def _check_envelope(
    mail: SMTPResponse, rcpt: SMTPResponse, start: SMTPResponse, sender: str, recipient: str
) -> None:
    """Raise for the first refusal among the replies to MAIL, RCPT and DATA, as aiosmtplib does."""
    if mail.code not in _WANTED[0]:
        raise SMTPSenderRefused(mail.code, mail.message, sender)
    if rcpt.code not in _WANTED[1]:
        raise SMTPRecipientRefused(rcpt.code, rcpt.message, recipient)
    if start.code not in _WANTED[2]:
        raise SMTPDataError(start.code, start.message)


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
