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
    ) -> None:
        if security != "none" and cert is None:
            raise ValueError(f"security={security!r} needs a certificate")
        self.security = security
        self.cert = cert
        self.credentials = credentials
        self.queue_ids = queue_ids
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
