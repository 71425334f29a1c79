"""The ``smtp`` provider: email through any SMTP server.

Outcomes: a 4xx reply is transient and a 5xx reply to MAIL, RCPT or DATA is permanent (RFC
5321 §4.2.1). Everything before the mail transaction (connecting, TLS, EHLO, AUTH) that fails
is retried: a refused password (535) or a missing STARTTLS is the operator's configuration,
not the message's fault, and retrying lets the deliveries reach the dead-letter queue, from
which they can be replayed once the configuration is fixed.
"""

from __future__ import annotations

import asyncio
import re
import ssl
from typing import Literal

import aiosmtplib
from aiosmtplib import (
    SMTPDataError,
    SMTPException,
    SMTPHeloError,
    SMTPRecipientRefused,
    SMTPSenderRefused,
)
from pydantic import Field, FilePath, field_validator, model_validator

from alertflow.message import Message
from alertflow.outcomes import DeliveryError, PermanentFailure, RetryLater, Sent
from alertflow.providers import Provider, ProviderContext, ProviderSettings
from alertflow_provider_kit import TimeoutSeconds

from .mime import ascii_address, message_id, render
from .pool import ConnectionPool
from .session import Session

# Connections kept open per provider instance when neither max_connections nor the channel's
# concurrency says (a test send through the API): one send at a time needs no more.
FALLBACK_POOL_SIZE = 4
# A relay refuses a client past its per-client connection limit (Postfix: 50 by default,
# smtpd_client_connection_count_limit); beyond a few hundred, more connections add nothing.
MAX_CONNECTIONS = 256
DEFAULT_PORTS = {"none": 25, "starttls": 587, "tls": 465}
# 530 "authentication required" answering MAIL means we did not log in: configuration.
AUTH_REQUIRED = 530
# The reply to DATA naming the server's id of the message (see queued_as).
_QUEUED_AS = re.compile(r"\bqueued as\s+<?([^\s<>]+?)>?(?:\s|$)", re.IGNORECASE)
_SES_OK = re.compile(r"^(?:[245]\.\d{1,3}\.\d{1,3}\s+)?ok\s+<?([^\s<>:]+)>?\s*$", re.IGNORECASE)


class SmtpSettings(ProviderSettings):
    """Settings of the ``smtp`` provider (CONTRACT §3)."""

    host: str
    port: int | None = Field(default=None, ge=1, le=65535, description="default: by security")
    username: str | None = None
    password: str | None = None
    security: Literal["none", "starttls", "tls"] = "starttls"
    # A file on the server: the operator's alertflow.toml only; a tenant sends ca_pem.
    ca_file: FilePath | None = Field(
        default=None,
        description="extra trusted CA (PEM file)",
        json_schema_extra={"inline_alternative": "ca_pem"},
    )
    ca_pem: str | None = Field(
        default=None, description="extra trusted CA certificates, as PEM text"
    )
    from_address: str
    from_name: str | None = None
    timeout_seconds: TimeoutSeconds = 30.0
    max_connections: int | None = Field(
        default=None,
        ge=1,
        le=MAX_CONNECTIONS,
        description="connections kept open at once; default: the channel's [workers] concurrency",
    )

    @field_validator("from_address")
    @classmethod
    def _sendable_address(cls, value: str) -> str:
        return ascii_address(value)

    @field_validator("ca_pem")
    @classmethod
    def _certificates(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                # A bare context: loading the system's CAs is no part of checking these.
                ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cadata=value)
            except (ssl.SSLError, ValueError, TypeError) as exc:  # TypeError: not ASCII
                raise ValueError(
                    f"expected PEM certificates (-----BEGIN CERTIFICATE-----): {exc}"
                ) from None
        return value

    @model_validator(mode="after")
    def _password_needs_username(self) -> SmtpSettings:
        if self.password is not None and self.username is None:
            raise ValueError("password is set but username is not")
        return self


class SmtpProvider(Provider):
    """Email over SMTP with a small pool of reused connections, pipelined where offered."""

    type_name = "smtp"
    Settings = SmtpSettings
    channels = frozenset({"email"})
    secret_fields = frozenset({"password"})
    host_fields = frozenset({"host"})
    description = "Email through any SMTP server (Amazon SES, SendGrid, Postfix, ...)."

    settings: SmtpSettings

    def __init__(self, settings: SmtpSettings, context: ProviderContext) -> None:
        super().__init__(settings, context)
        self._tls = _tls_context(settings) if settings.security != "none" else None
        size = settings.max_connections or context.concurrency or FALLBACK_POOL_SIZE
        self._pool = ConnectionPool(self._connect, size)

    async def send(self, message: Message) -> Sent:
        if not message.recipient.email:
            raise PermanentFailure("no email address")
        try:
            address = ascii_address(message.recipient.email)
        except ValueError as exc:
            raise PermanentFailure(f"cannot send to {message.recipient.email!r}: {exc}") from exc
        s = self.settings
        data = render(message, address, s.from_address, s.from_name)
        try:
            reply = await self._pool.sendmail(s.from_address, address, data)
        except (SMTPException, OSError) as exc:  # SMTP timeouts and drops are OSErrors too
            raise _outcome(exc) from exc
        # The server's own id, which its bounce and delivery reports name; else our Message-ID.
        own_id = message_id(message.delivery_id, s.from_address)
        return Sent(provider_message_id=queued_as(reply) or own_id)

    async def close(self) -> None:
        await self._pool.close()

    async def _connect(self) -> Session:
        s = self.settings
        # We connect the socket ourselves, to an address the guard allows (checked on every
        # connection, so a re-pointed name is caught); TLS still verifies ``host`` by name.
        async with asyncio.timeout(s.timeout_seconds):
            sock = await self.context.guard.open_socket(s.host, s.port or DEFAULT_PORTS[s.security])
        client = aiosmtplib.SMTP(
            hostname=s.host,
            sock=sock,
            username=s.username,
            password=s.password,
            use_tls=s.security == "tls",
            # False, not None: None would upgrade opportunistically behind "none"'s back.
            start_tls=s.security == "starttls",
            tls_context=self._tls,
            timeout=s.timeout_seconds,
        )
        await client.connect()  # logs in too when a username is set
        if client.is_ehlo_or_helo_needed:  # no TLS or login asked for it: the transaction needs it
            try:
                await client.ehlo()
            except SMTPHeloError:  # a server from before ESMTP
                await client.helo()
        return Session(client)


def queued_as(reply: str) -> str | None:
    """The message id in a server's reply to DATA, when it gives one: Postfix, SendGrid and
    most relays say "2.0.0 Ok: queued as ABC123", Amazon SES says "Ok <message id>"."""
    match = _QUEUED_AS.search(reply) or _SES_OK.match(reply)
    return match.group(1) if match else None


def _tls_context(settings: SmtpSettings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.ca_file is not None:
        # In addition to the system's CAs: create_default_context(cafile=) would replace them.
        context.load_verify_locations(cafile=settings.ca_file)
    if settings.ca_pem is not None:
        context.load_verify_locations(cadata=settings.ca_pem)
    return context


def _outcome(exc: SMTPException | OSError) -> DeliveryError:
    """Sort a failed send into retry or permanent failure (see the module docstring)."""
    if isinstance(exc, (SMTPSenderRefused, SMTPRecipientRefused, SMTPDataError)):
        error = f"smtp {exc.code}: {exc.message}"
        if exc.code >= 500 and exc.code != AUTH_REQUIRED:
            return PermanentFailure(error)
        return RetryLater(error)
    return RetryLater(f"smtp: {type(exc).__name__}: {exc}")
