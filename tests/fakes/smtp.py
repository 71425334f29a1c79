"""An SMTP server (aiosmtpd) on the test's own event loop, recording the mail it accepts."""

from __future__ import annotations

import asyncio
import email
import email.policy
import secrets
import ssl
import warnings
from collections import deque
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal, Self

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from .tls import TlsCert

# How long until_held waits at most: a ceiling for a broken test, never a timing assertion.
HOLD_CEILING_SECONDS = 30.0


@dataclass(frozen=True)
class ReceivedMail:
    """One accepted message: the SMTP envelope and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage
    queue_id: str | None = None  # the id the reply to DATA gave, when the server gives ids


class FakeSmtpServer:
    """``async with FakeSmtpServer(...) as smtp``: listens on ``smtp.host``:``smtp.port``.

    - ``security``: "none", "starttls" (STARTTLS required) or "tls" (implicit TLS); the
      last two need ``cert``.
    - ``credentials``: ``(username, password)`` makes AUTH required.
    - ``rcpt_replies[address]``: the reply to RCPT TO for that address (e.g. "550 5.1.1 no").
    - ``data_replies``: replies to the next end-of-DATA commands (e.g. "451 4.3.0 later").
    - ``pipelining``: offer PIPELINING in the reply to EHLO (RFC 2920), as Postfix, SES and
      SendGrid do; aiosmtpd answers pipelined commands in order either way.
    - ``queue_ids``: accept with "250 2.0.0 Ok: queued as <id>" as Postfix and SendGrid do,
      a new id each message (``ReceivedMail.queue_id``), instead of "250 2.0.0 accepted".
    - ``reply_delay``: seconds RCPT and end-of-DATA each wait before their reply (a slow server).
    - ``hold_data()``: every end-of-DATA waits until ``release_data()``; ``held`` counts the
      messages waiting now and ``most_held`` the most at once (sends in flight together).

    Every message is parsed with the standard library's ``email`` package; one it finds a
    defect in (in the MIME structure or any header) is refused with 554 and recorded in
    ``malformed``, and leaving the ``async with`` then fails the test that sent it.
    It runs on the test's loop (no thread), so a test never races the server.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        *,
        security: Literal["none", "starttls", "tls"] = "none",
        cert: TlsCert | None = None,
        credentials: tuple[str, str] | None = None,
        queue_ids: bool = False,
        pipelining: bool = False,
    ) -> None:
        if security != "none" and cert is None:
            raise ValueError(f"security={security!r} needs a certificate")
        self.security = security
        self.cert = cert
        self.credentials = credentials
        self.queue_ids = queue_ids
        self.pipelining = pipelining
        self.messages: list[ReceivedMail] = []
        self.malformed: list[tuple[bytes, list[str]]] = []
        self.rcpt_replies: dict[str, str] = {}
        self.data_replies: deque[str] = deque()
        self.reply_delay = 0.0
        self.connections = 0
        self.held = 0
        self.most_held = 0
        self._gate: asyncio.Event | None = None
        self._held_changed = asyncio.Event()
        self.logins: list[str] = []
        self._sessions: list[SMTP] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> Self:
        implicit = self.cert.server_context() if self.security == "tls" and self.cert else None
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._new_session, self.host, 0, ssl=implicit)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.drop_connections()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        assert not self.malformed, f"malformed messages were sent: {self.malformed}"

    def drop_connections(self) -> None:
        """Close every open session from the server's side, as an idle timeout would."""
        for session in self._sessions:
            if session.transport is not None:
                session.transport.close()
        self._sessions.clear()

    def hold_data(self) -> None:
        self._gate = asyncio.Event()

    def release_data(self) -> None:
        if self._gate is not None:
            self._gate.set()
        self._gate = None

    async def until_held(self, count: int) -> None:
        """Wait until ``count`` messages wait at end-of-DATA (a held DATA never times out)."""
        async with asyncio.timeout(HOLD_CEILING_SECONDS):
            while self.held < count:
                self._held_changed.clear()
                await self._held_changed.wait()

    async def _hold(self, gate: asyncio.Event) -> None:
        self.held += 1
        self.most_held = max(self.most_held, self.held)
        self._held_changed.set()
        try:
            await gate.wait()
        finally:
            self.held -= 1

    def _new_session(self) -> SMTP:
        self.connections += 1
        starttls = self.cert.server_context() if self.security == "starttls" and self.cert else None
        with warnings.catch_warnings():
            # aiosmtpd warns about AUTH without STARTTLS; here that is implicit TLS or a
            # deliberate plain-text test server.
            warnings.simplefilter("ignore", UserWarning)
            session = self._smtp_session(starttls)
        self._sessions.append(session)
        return session

    def _smtp_session(self, starttls: ssl.SSLContext | None) -> SMTP:
        return SMTP(
            self,
            hostname="mx.alertflow.test",
            tls_context=starttls,
            require_starttls=starttls is not None,
            auth_required=self.credentials is not None,
            # aiosmtpd only knows about STARTTLS; with implicit TLS the channel is already safe.
            auth_require_tls=self.security == "starttls",
            authenticator=self._authenticate,
            loop=asyncio.get_running_loop(),
        )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: object
    ) -> AuthResult:
        login = (data.login.decode(), data.password.decode()) if isinstance(data, LoginPassword) else None
        if login is not None and login == self.credentials:
            self.logins.append(login[0])
            return AuthResult(success=True, handled=False)
        # handled=False: with the default (True) aiosmtpd sends no reply at all to a failed
        # login and the client hangs until its timeout.
        return AuthResult(success=False, handled=False)

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname  # what aiosmtpd does when no hook replaces it
        if self.pipelining:
            return [*responses[:-1], "250-PIPELINING", responses[-1]]
        return responses

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        await asyncio.sleep(self.reply_delay)
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(self.reply_delay)
        if self._gate is not None:
            await self._hold(self._gate)
        if self.data_replies:
            return self.data_replies.popleft()
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        found = defects(parsed)
        if found:
            self.malformed.append((raw, found))
            return "554 5.6.0 malformed message: " + "; ".join(found)
        queue_id = f"Q{secrets.token_hex(6).upper()}" if self.queue_ids else None
        self.messages.append(ReceivedMail(str(envelope.mail_from), list(envelope.rcpt_tos), raw, parsed, queue_id))
        return f"250 2.0.0 Ok: queued as {queue_id}" if queue_id else "250 2.0.0 accepted"


def defects(message: EmailMessage) -> list[str]:
    """Every defect the ``email`` parser found: in the MIME structure of each part and in
    each header (an encoded word where none may go, a bad address, ...)."""
    found = []
    for part in message.walk():
        found += [f"{type(d).__name__}: {d}" for d in part.defects]
        for name, value in part.items():
            found += [f"{name}: {type(d).__name__}: {d}" for d in getattr(value, "defects", ())]
    return found


class PipeliningOnlySmtp:
    """``async with PipeliningOnlySmtp() as smtp``: just enough SMTP to tell a pipelining
    client from one that is not. It offers PIPELINING and answers MAIL, RCPT and DATA only once
    all three have come, in one write: a client that waits for MAIL's reply before sending RCPT
    waits forever (until its own timeout).

    - ``batches``: the commands of each transaction, as they came;
    - ``envelope_replies``: the three replies it gives each batch (one refused to see the
      client end the transaction);
    - ``bodies``: what came after each 354, up to and with the lone dot;
    - ``connections``: connections accepted. RSET is answered at once.
    """

    host = "127.0.0.1"

    def __init__(self) -> None:
        self.batches: list[list[bytes]] = []
        self.envelope_replies = [b"250 2.1.0 Ok", b"250 2.1.5 Ok", b"354 End data with <CR><LF>.<CR><LF>"]
        self.bodies: list[bytes] = []
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._session, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.write(b"220 pipe.alertflow.test ESMTP\r\n")
        await reader.readline()  # EHLO
        writer.write(b"250-pipe.alertflow.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
        try:
            while batch := await self._batch(reader, writer):
                self.batches.append(batch)
                writer.write(b"".join(reply + b"\r\n" for reply in self.envelope_replies))
                if self.envelope_replies[-1].startswith(b"354"):
                    self.bodies.append(await self._body(reader))
                    writer.write(b"250 2.0.0 Ok: queued as PIPE%d\r\n" % len(self.bodies))
        finally:
            writer.close()

    @staticmethod
    async def _batch(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> list[bytes]:
        """The commands up to DATA, answering RSET as it comes; none once the client leaves."""
        batch: list[bytes] = []
        while not batch or batch[-1] != b"DATA\r\n":
            line = await reader.readline()
            if line in (b"", b"QUIT\r\n"):
                return []
            if line == b"RSET\r\n":
                writer.write(b"250 2.0.0 Ok\r\n")
            else:
                batch.append(line)
        return batch

    @staticmethod
    async def _body(reader: asyncio.StreamReader) -> bytes:
        lines = [await reader.readline()]
        while lines[-1] not in (b".\r\n", b""):
            lines.append(await reader.readline())
        return b"".join(lines)
