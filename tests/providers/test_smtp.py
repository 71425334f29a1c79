"""The smtp provider against a real SMTP server (aiosmtpd) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import pytest
import uvloop
from aiosmtplib import SMTPResponse, SMTPResponseException, SMTPServerDisconnected
from alertflow_smtp import SmtpProvider
from alertflow_smtp.mime import render
from alertflow_smtp.provider import FALLBACK_POOL_SIZE
from alertflow_smtp.session import MAX_REPLY_BYTES, MAX_UNREAD_REPLIES, Replies, dot_stuffed
from pydantic import ValidationError

from alertflow.outcomes import PermanentFailure, RetryLater, Sent
from tests.fakes.http import closed_port_url
from tests.fakes.smtp import HOLD_CEILING_SECONDS, FakeSmtpServer, PipeliningOnlySmtp, defects
from tests.fakes.tls import TlsCert, make_self_signed

from .context import provider_context
from .messages import message

FROM = "alerts@alertflow.test"
CREDENTIALS = ("alertflow", "s3cret")


@pytest.fixture(params=[False, True], ids=["one-command-at-a-time", "pipelining"])
async def fake_smtp(request: pytest.FixtureRequest) -> AsyncIterator[FakeSmtpServer]:
    """A plain SMTP server (no TLS, no AUTH): every behaviour below holds whether it offers
    PIPELINING, so the provider writes MAIL, RCPT and DATA at once, or not."""
    async with FakeSmtpServer(pipelining=request.param) as server:
        yield server


def smtp(server: FakeSmtpServer | PipeliningOnlySmtp, concurrency: int | None = None, **settings: Any) -> SmtpProvider:
    defaults: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "security": "none",
        "from_address": FROM,
        "from_name": "AlertFlow Alerts",
        "timeout_seconds": 5,
    }
    provider_settings = SmtpProvider.Settings(**{**defaults, **settings})
    return SmtpProvider(provider_settings, provider_context(concurrency=concurrency))


def email_to(address: str | None = "ann@example.com", **kwargs: Any) -> Any:
    content = kwargs.pop("content", {"subject": "Disk alert", "text": "/var is 95% full"})
    return message("email", content, email=address, **{"name": "Ann Smith", **kwargs})


def parts(mail: EmailMessage) -> dict[str, str]:
    return {part.get_content_type(): part.get_content() for part in mail.walk() if not part.is_multipart()}


async def test_a_text_email_arrives_with_envelope_headers_and_body(fake_smtp, closing):
    provider = closing(smtp(fake_smtp))
    outcome = await provider.send(email_to(headers={"List-Unsubscribe": "<https://a.test/u/1>"}))

    [mail] = fake_smtp.messages
    assert mail.mail_from == FROM
    assert mail.rcpt_tos == ["ann@example.com"]
    assert mail.message["From"] == "AlertFlow Alerts <alerts@alertflow.test>"
    assert mail.message["To"] == "Ann Smith <ann@example.com>"
    assert mail.message["Subject"] == "Disk alert"
    assert mail.message["Date"] is not None
    assert mail.message["List-Unsubscribe"] == "<https://a.test/u/1>"
    assert mail.message.get_content_type() == "text/plain"
    assert mail.message.get_content().replace("\r\n", "\n") == "/var is 95% full\n"
    assert outcome == Sent(provider_message_id="<dlv_01HZX3K9@alertflow.test>")
    assert mail.message["Message-ID"] == outcome.provider_message_id


@pytest.mark.parametrize(
    "reply,recorded",
    [
        ("250 2.0.0 Ok: queued as 4XbQ2K1v3Tz9", "4XbQ2K1v3Tz9"),  # Postfix, SendGrid
        ("250 Ok 0100018c1f2e-5b6a7980-000000", "0100018c1f2e-5b6a7980-000000"),  # Amazon SES
        ("250 2.0.0 OK 1701234567 a1-20020a170906 - gsmtp", "<dlv_01HZX3K9@alertflow.test>"),  # no id: ours
    ],
)
async def test_the_id_in_the_servers_reply_to_data_is_the_provider_message_id(
    fake_smtp, closing, reply: str, recorded: str
):
    fake_smtp.data_replies.append(reply)
    outcome = await closing(smtp(fake_smtp)).send(email_to())
    assert outcome == Sent(provider_message_id=recorded)


async def test_html_goes_as_an_alternative_to_the_text_and_unicode_survives(fake_smtp, closing):
    provider = closing(smtp(fake_smtp, from_name="Équipe Ops"))
    content = {"subject": "Überlast ⚠ on db-1", "text": "Grüße\nline 2", "html": "<p>Grüße ⚠</p>"}
    await provider.send(email_to(content=content))

    [mail] = fake_smtp.messages
    assert mail.raw.isascii()  # 7-bit safe: RFC 2047 headers, quoted-printable bodies
    assert mail.message.get_content_type() == "multipart/alternative"
    assert mail.message["Subject"] == "Überlast ⚠ on db-1"
    assert mail.message["From"].addresses[0].display_name == "Équipe Ops"
    body = parts(mail.message)
    assert list(body) == ["text/plain", "text/html"]  # least preferred first (RFC 2046)
    assert body["text/plain"].replace("\r\n", "\n") == "Grüße\nline 2\n"
    assert body["text/html"].strip() == "<p>Grüße ⚠</p>"


async def test_lines_that_start_with_a_dot_arrive_as_written_and_do_not_end_the_message(fake_smtp, closing):
    provider = closing(smtp(fake_smtp))
    text = ".first\n.\n..two dots\nlast"
    await provider.send(email_to(content={"subject": "s", "text": text, "html": "<p>\n.\n</p>"}))

    [mail] = fake_smtp.messages
    body = parts(mail.message)
    assert body["text/plain"].replace("\r\n", "\n") == text + "\n"
    assert body["text/html"].replace("\r\n", "\n") == "<p>\n.\n</p>\n"


@pytest.mark.parametrize(
    "data,wire",
    [
        (b"a\r\n.b\r\n", b"a\r\n..b\r\n.\r\n"),
        (b".a\r\nb", b"..a\r\nb\r\n.\r\n"),
        (b"a\nb\rc\r\r\n.", b"a\r\nb\r\nc\r\n\r\n..\r\n.\r\n"),  # bare LF and CR become CRLF
    ],
)
def test_data_goes_dot_stuffed_with_crlf_line_endings_and_the_closing_dot(data: bytes, wire: bytes) -> None:
    assert dot_stuffed(data) == wire


async def test_html_alone_is_sent_as_a_single_html_part(fake_smtp, closing):
    provider = closing(smtp(fake_smtp))
    await provider.send(email_to(content={"subject": "s", "html": "<b>hi</b>"}))
    assert fake_smtp.messages[0].message.get_content_type() == "text/html"


async def test_message_id_stays_the_same_across_retries_of_one_delivery(fake_smtp, closing):
    provider = closing(smtp(fake_smtp))
    await provider.send(email_to(delivery_id="dlv_a"))
    await provider.send(email_to(delivery_id="dlv_a"))
    await provider.send(email_to(delivery_id="dlv_b"))
    ids = [m.message["Message-ID"] for m in fake_smtp.messages]
    assert ids == ["<dlv_a@alertflow.test>", "<dlv_a@alertflow.test>", "<dlv_b@alertflow.test>"]


async def test_line_breaks_in_header_values_cannot_inject_headers(fake_smtp, closing):
    provider = closing(smtp(fake_smtp))
    content = {"subject": "Hi\r\nBcc: victim@example.com", "text": "x"}
    await provider.send(email_to(content=content, headers={"X-Tag": "a\nFrom: forged@evil.test"}))

    mail = fake_smtp.messages[0].message
    assert mail["Bcc"] is None
    assert mail.get_all("From") == ["AlertFlow Alerts <alerts@alertflow.test>"]
    assert mail["Subject"] == "Hi Bcc: victim@example.com"


async def test_extra_headers_cannot_replace_the_ones_alertflow_writes(fake_smtp, closing):
    provider = closing(smtp(fake_smtp))
    await provider.send(email_to(headers={"From": "forged@evil.test", "Reply-To": "ops@a.test"}))
    mail = fake_smtp.messages[0].message
    assert mail.get_all("From") == ["AlertFlow Alerts <alerts@alertflow.test>"]
    assert mail["Reply-To"] == "ops@a.test"


async def test_starttls_with_login_verifies_the_server_against_ca_file(start_fake_smtp, tls_cert, closing):
    server = await start_fake_smtp(security="starttls", cert=tls_cert, credentials=CREDENTIALS)
    provider = closing(
        smtp(
            server,
            security="starttls",
            ca_file=tls_cert.cert_file,
            username="alertflow",
            password="s3cret",
        )
    )
    assert isinstance(await provider.send(email_to()), Sent)
    assert server.logins == ["alertflow"]
    assert len(server.messages) == 1


async def test_starttls_verifies_the_server_against_an_inline_ca_pem(start_fake_smtp, tls_cert, closing):
    server = await start_fake_smtp(security="starttls", cert=tls_cert, credentials=CREDENTIALS)
    pem = tls_cert.cert_file.read_text()
    provider = closing(smtp(server, security="starttls", ca_pem=pem, username="alertflow", password="s3cret"))
    assert isinstance(await provider.send(email_to()), Sent)
    assert server.logins == ["alertflow"] and len(server.messages) == 1


async def test_an_inline_ca_pem_of_another_ca_does_not_make_the_server_trusted(
    start_fake_smtp, tls_cert, closing, tmp_path
):
    server = await start_fake_smtp(security="starttls", cert=tls_cert)
    other = make_self_signed(tmp_path).cert_file.read_text()
    provider = closing(smtp(server, security="starttls", ca_pem=other))
    with pytest.raises(RetryLater, match="CERTIFICATE_VERIFY_FAILED"):
        await provider.send(email_to())
    assert server.messages == []


async def test_implicit_tls_with_login(start_fake_smtp, tls_cert, closing):
    server = await start_fake_smtp(security="tls", cert=tls_cert, credentials=CREDENTIALS)
    provider = closing(
        smtp(
            server,
            security="tls",
            ca_file=tls_cert.cert_file,
            username="alertflow",
            password="s3cret",
        )
    )
    await provider.send(email_to())
    assert server.logins == ["alertflow"] and len(server.messages) == 1


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_sessions_carry_pipelined_mail_on_uvloop_as_alertflow_serve_runs(tls_cert: TlsCert, security: str):
    """The session takes the connection over from aiosmtplib after the handshake; over TLS
    that is the TLS transport, whose protocol uvloop swaps in its own code."""

    async def send_two() -> FakeSmtpServer:
        async with FakeSmtpServer(security=security, cert=tls_cert, credentials=CREDENTIALS, pipelining=True) as server:
            provider = smtp(
                server, security=security, ca_file=tls_cert.cert_file, username="alertflow", password="s3cret"
            )
            try:
                for n in range(2):
                    assert isinstance(await provider.send(email_to(delivery_id=f"dlv_{n}")), Sent)
            finally:
                await provider.close()
            return server

    server = uvloop.run(send_two())
    assert len(server.messages) == 2 and server.connections == 1


async def test_an_untrusted_certificate_is_retried_as_a_configuration_problem(start_fake_smtp, tls_cert, closing):
    server = await start_fake_smtp(security="starttls", cert=tls_cert)
    provider = closing(smtp(server, security="starttls"))  # no ca_file: the test CA is unknown
    with pytest.raises(RetryLater):
        await provider.send(email_to())
    assert server.messages == []


async def test_a_wrong_password_is_retried_so_fixing_the_credentials_lets_mail_through(start_fake_smtp, closing):
    server = await start_fake_smtp(credentials=CREDENTIALS)
    provider = closing(smtp(server, username="alertflow", password="wrong"))
    with pytest.raises(RetryLater) as failure:
        await provider.send(email_to())
    assert "535" in failure.value.error


async def test_sending_without_login_to_a_server_that_requires_it_is_retried(start_fake_smtp, closing):
    server = await start_fake_smtp(credentials=CREDENTIALS)
    provider = closing(smtp(server))
    with pytest.raises(RetryLater) as failure:
        await provider.send(email_to())
    assert "530" in failure.value.error
    assert not isinstance(failure.value, PermanentFailure)


async def test_one_connection_carries_consecutive_messages(fake_smtp, closing):
    provider = closing(smtp(fake_smtp))
    for n in range(3):
        await provider.send(email_to(delivery_id=f"dlv_{n}"))
    assert len(fake_smtp.messages) == 3
    assert fake_smtp.connections == 1


async def test_concurrent_sends_share_at_most_pool_size_connections(fake_smtp, closing):
    provider = closing(smtp(fake_smtp))
    await asyncio.gather(*(provider.send(email_to(delivery_id=f"dlv_{n}")) for n in range(12)))
    assert len(fake_smtp.messages) == 12
    assert 1 <= fake_smtp.connections <= FALLBACK_POOL_SIZE


async def sends_held_at_once(server: FakeSmtpServer, provider: SmtpProvider, sends: int, expected: int) -> None:
    """Start ``sends`` sends while the server holds every DATA; once ``expected`` are held,
    let them all through and wait for every send to finish."""
    server.hold_data()
    tasks = [asyncio.create_task(provider.send(email_to(delivery_id=f"dlv_{n}"))) for n in range(sends)]
    await server.until_held(expected)
    server.release_data()
    await asyncio.gather(*tasks)
    assert len(server.messages) == sends


async def test_the_pool_holds_as_many_connections_as_the_channel_runs_sends(fake_smtp, closing):
    provider = closing(smtp(fake_smtp, concurrency=7))
    await sends_held_at_once(fake_smtp, provider, sends=14, expected=7)
    assert fake_smtp.most_held == 7
    assert fake_smtp.connections == 7


async def test_max_connections_caps_the_pool_below_the_channel_concurrency(fake_smtp, closing):
    provider = closing(smtp(fake_smtp, concurrency=16, max_connections=2))
    await sends_held_at_once(fake_smtp, provider, sends=12, expected=2)
    assert fake_smtp.most_held == 2
    assert fake_smtp.connections == 2


@pytest.mark.parametrize("value", [0, 257, "many"])
def test_max_connections_outside_1_to_256_is_refused_naming_it(value):
    with pytest.raises(ValidationError) as refused:
        SmtpProvider.Settings(host="mx.test", from_address=FROM, max_connections=value)
    assert [e["loc"] for e in refused.value.errors()] == [("max_connections",)]


async def test_a_connection_the_server_dropped_is_replaced_without_failing_the_send(fake_smtp, closing):
    provider = closing(smtp(fake_smtp))
    await provider.send(email_to(delivery_id="dlv_1"))
    fake_smtp.drop_connections()  # as a server's idle timeout would
    assert isinstance(await provider.send(email_to(delivery_id="dlv_2")), Sent)
    assert len(fake_smtp.messages) == 2
    assert fake_smtp.connections == 2


async def test_a_server_that_stops_answering_fails_the_send_for_a_retry_and_its_connection_is_not_reused(
    fake_smtp, closing
):
    provider = closing(smtp(fake_smtp, timeout_seconds=0.2))
    await provider.send(email_to(delivery_id="dlv_1"))  # a connection, now idle in the pool
    fake_smtp.hold_data()  # the server takes the message and never says whether it accepted it
    with pytest.raises(RetryLater, match="SMTPReadTimeoutError"):
        async with asyncio.timeout(HOLD_CEILING_SECONDS):  # a ceiling, should the timeout not work
            await provider.send(email_to(delivery_id="dlv_2"))
    fake_smtp.release_data()
    assert isinstance(await provider.send(email_to(delivery_id="dlv_3")), Sent)
    assert fake_smtp.connections == 2  # the silent one was closed, not handed to the next send


async def test_each_reply_has_the_timeout_to_itself_so_a_slow_server_longer_than_it_in_all_still_sends(
    fake_smtp, closing
):
    provider = closing(smtp(fake_smtp, timeout_seconds=2.0))
    fake_smtp.reply_delay = 1.2  # RCPT and DATA each within the timeout, both together past it
    assert isinstance(await provider.send(email_to()), Sent)
    assert len(fake_smtp.messages) == 1


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [("550 5.1.1 no such user", PermanentFailure), ("451 4.2.0 mailbox busy", RetryLater)],
)
async def test_a_refused_recipient_is_classified_by_reply_class(fake_smtp, closing, reply, outcome):
    fake_smtp.rcpt_replies["ann@example.com"] = reply
    provider = closing(smtp(fake_smtp))
    with pytest.raises(outcome) as failure:
        await provider.send(email_to())
    assert reply[:3] in failure.value.error
    assert type(failure.value) is outcome


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [("554 5.7.1 rejected as spam", PermanentFailure), ("451 4.3.0 try again later", RetryLater)],
)
async def test_a_rejected_message_body_is_classified_by_reply_class(fake_smtp, closing, reply, outcome):
    fake_smtp.data_replies.append(reply)
    provider = closing(smtp(fake_smtp))
    with pytest.raises(outcome):
        await provider.send(email_to())


async def test_the_connection_stays_usable_after_a_refusal(fake_smtp, closing):
    fake_smtp.rcpt_replies["gone@example.com"] = "550 5.1.1 no such user"
    provider = closing(smtp(fake_smtp))
    with pytest.raises(PermanentFailure):
        await provider.send(email_to("gone@example.com"))
    await provider.send(email_to())
    assert len(fake_smtp.messages) == 1
    assert fake_smtp.connections == 1


async def test_a_server_closing_down_is_retried_and_its_connection_left(fake_smtp, closing):
    fake_smtp.rcpt_replies["ann@example.com"] = "421 4.3.2 shutting down"
    provider = closing(smtp(fake_smtp))
    with pytest.raises(RetryLater):
        await provider.send(email_to())
    del fake_smtp.rcpt_replies["ann@example.com"]
    await provider.send(email_to())
    assert len(fake_smtp.messages) == 1
    assert fake_smtp.connections == 2  # 421 says the server closes: the next send connects anew


async def test_a_server_offering_pipelining_gets_mail_rcpt_and_data_in_one_go():
    async with PipeliningOnlySmtp() as server:
        provider = smtp(server)
        try:
            outcome = await provider.send(email_to(delivery_id="dlv_1"))
            await provider.send(email_to("bob@example.com", delivery_id="dlv_2"))
        finally:
            await provider.close()
    assert outcome == Sent(provider_message_id="PIPE1")
    assert [[line.split(b":")[0] for line in batch] for batch in server.batches] == [
        [b"MAIL FROM", b"RCPT TO", b"DATA\r\n"]
    ] * 2
    assert server.batches[1][1] == b"RCPT TO:<bob@example.com>\r\n"
    assert b"Subject: Disk alert" in server.bodies[0]
    assert server.connections == 1


async def test_a_pipelined_transaction_data_accepted_after_a_refused_recipient_ends_empty_and_resets():
    async with PipeliningOnlySmtp() as server:
        server.envelope_replies[1] = b"550 5.1.1 no such user"  # and yet 354 to DATA (RFC 2920 asks not)
        provider = smtp(server)
        try:
            with pytest.raises(PermanentFailure, match="550"):
                await provider.send(email_to("gone@example.com"))
            server.envelope_replies[1] = b"250 2.1.5 Ok"
            assert isinstance(await provider.send(email_to()), Sent)
        finally:
            await provider.close()
    assert server.bodies == [b".\r\n", server.bodies[1]]  # the refused one delivered nothing
    assert server.bodies[1].endswith(b"\r\n.\r\n") and len(server.bodies[1]) > 3
    assert server.connections == 1  # RSET, and the same connection carried the next


WIRE = b"250 2.1.0 Ok\r\n250-first\r\n250-second\r\n250 last\r\n354 go ahead\r\n"


@pytest.mark.parametrize("chunk", [1, 2, 5, 14, len(WIRE)])
async def test_replies_are_read_whole_and_in_order_however_the_bytes_are_split(chunk):
    replies = Replies()
    first = asyncio.create_task(replies.next())  # awaited before any byte came
    for start in range(0, len(WIRE), chunk):
        replies.data_received(WIRE[start : start + chunk])
    assert [await first, await replies.next(), await replies.next()] == [
        SMTPResponse(250, "2.1.0 Ok"),
        SMTPResponse(250, "first\nsecond\nlast"),
        SMTPResponse(354, "go ahead"),
    ]
    assert not replies.unread


@pytest.mark.parametrize(
    ("wire", "error"),
    [
        (b"hello there\r\n", "Malformed"),
        (b"250-one\r\n550 two\r\n", "Malformed"),
        (b"250 " + b"x" * MAX_REPLY_BYTES, "too long"),
        (b"250 ok\r\n" * (MAX_UNREAD_REPLIES + 1), "More replies than commands"),
    ],
)
async def test_replies_that_are_not_an_smtp_conversation_fail_the_connection_naming_why(wire, error):
    replies = Replies()
    replies.data_received(wire)
    with pytest.raises(SMTPResponseException, match=error):
        await replies.next()
    assert replies.unread  # the session is not reused


async def test_a_reply_that_came_unasked_or_a_lost_connection_marks_the_session_unusable():
    unasked = Replies()
    unasked.data_received(b"421 4.4.2 idle too long\r\n")
    assert unasked.unread
    lost = Replies()
    waiting = asyncio.create_task(lost.next())
    await asyncio.sleep(0)
    lost.connection_lost(ConnectionResetError())
    with pytest.raises(SMTPServerDisconnected):
        await waiting
    assert lost.unread


async def test_a_server_that_is_not_listening_is_retried(closing):
    port = int(closed_port_url().rsplit(":", 1)[1])
    provider = closing(
        SmtpProvider(
            SmtpProvider.Settings(host="127.0.0.1", port=port, security="none", from_address=FROM),
            provider_context(),
        )
    )
    with pytest.raises(RetryLater):
        await provider.send(email_to())


async def test_a_recipient_without_an_email_address_fails_permanently(fake_smtp, closing):
    provider = closing(smtp(fake_smtp))
    with pytest.raises(PermanentFailure, match="no email address"):
        await provider.send(email_to(None))
    assert fake_smtp.connections == 0


async def test_an_internationalised_domain_is_sent_in_punycode(fake_smtp, closing):
    provider = closing(smtp(fake_smtp))
    await provider.send(email_to("ann@bücher.example"))
    assert fake_smtp.messages[0].rcpt_tos == ["ann@xn--bcher-kva.example"]


@pytest.mark.parametrize("address", ["änn@example.com", "ann@example.com\r\nRCPT TO:<x@y>", "a@"])
async def test_an_address_smtp_cannot_carry_fails_permanently(fake_smtp, closing, address):
    provider = closing(smtp(fake_smtp))
    with pytest.raises(PermanentFailure, match="cannot send to"):
        await provider.send(email_to(address))
    assert fake_smtp.connections == 0


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"from_address": "not-an-address"}, "from_address"),
        # A tenant's own provider: its sender goes on the MAIL command line as written.
        ({"from_address": "a@b.test>\r\nRCPT TO:<x@y.test"}, "from_address"),
        ({"password": "p"}, "password"),
        ({"security": "ssl"}, "security"),
        ({"ca_file": "/nonexistent/ca.pem"}, "ca_file"),
        ({"ca_pem": "not a certificate"}, "ca_pem"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"timeout_seconds": -1}, "timeout_seconds"),
        ({"timeout_seconds": 300.5}, "timeout_seconds"),
        ({"timeout_seconds": float("inf")}, "timeout_seconds"),
        ({"timeout_seconds": float("nan")}, "timeout_seconds"),
        ({"port": 0}, "port"),
        ({"port": 65536}, "port"),
        ({"hostname": "typo"}, "hostname"),
    ],
)
def test_settings_reject_mistakes(settings, field):
    base = {"host": "mail.test", "from_address": FROM}
    with pytest.raises(ValidationError) as error:
        SmtpProvider.Settings(**{**base, **settings})
    assert field in str(error.value)


# --- the hand-written wire format against the standard library's -------------------------------

UNSUBSCRIBE = {
    "List-Unsubscribe": "<https://alerts.example.com/v1/unsubscribe/" + "eyJ0ZW5hbnQiOiJ0ZW5fYWNtZSJ9" * 5 + ">",
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
}
LONG_LINE = "word " * 60 + "x" * 200
SHAPES: dict[str, tuple[dict[str, Any], str | None, dict[str, str]]] = {
    "text only": ({"subject": "Disk alert", "text": "/var is 95% full"}, "Ann Smith", {}),
    "html only": ({"subject": "s", "html": "<b>hi</b>"}, None, {}),
    "text and html": ({"subject": "Disk alert", "text": "t", "html": "<p>h</p>"}, "Ann", {}),
    "non-ASCII subject and names": (
        {"subject": "Überlast ⚠ on db-1 " * 4, "text": "Grüße ⚠", "html": "<p>Grüße ⚠</p>"},
        "Zoë O'Brien, Ops",
        {},
    ),
    "long lines": ({"subject": "s " * 60, "text": LONG_LINE, "html": f"<p>{LONG_LINE}</p>"}, "Ann", {}),
    "CRLF and lone CR or LF in bodies": (
        {"subject": "s", "text": "a\r\nb\rc\nd\r\n\r\n", "html": "<p>a</p>\r<p>b</p>\n"},
        "Ann",
        {},
    ),
    "empty text": ({"subject": "", "text": ""}, "", {}),
    "unsubscribe headers": ({"subject": "Weekly digest", "text": "t", "html": "<p>h</p>"}, "Ann", UNSUBSCRIBE),
    "specials and trailing spaces": (
        {"subject": "a=b ?= =?x", "text": "trailing spaces   \nand tab\t\nfrom\nFrom here\n.\n", "html": "="},
        '"Quoted" <Name>',
        {"X-Tag": "a;b=c"},
    ),
}


def library_render(content: dict[str, Any], name: str | None, headers: dict[str, str]) -> bytes:
    """The same message as the standard library builds it (the reference ``mime.render``
    must agree with)."""
    mail = EmailMessage(policy=email.policy.SMTP)
    mail["From"] = Address("AlertFlow Alerts", addr_spec=FROM)
    mail["To"] = Address(name or "", addr_spec="ann@example.com")
    mail["Subject"] = content.get("subject") or ""
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = "<dlv_01HZX3K9@alertflow.test>"
    for header, value in headers.items():
        mail[header] = value
    text, html = content.get("text"), content.get("html")
    if text is not None:
        mail.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
        if html:
            mail.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    else:
        mail.set_content(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return mail.as_bytes()


def parsed_summary(raw: bytes) -> dict[str, Any]:
    """What a reader of the message sees: headers (the date and MIME plumbing aside) and
    every part's type, charset, transfer encoding and decoded text (line ends as \\n)."""
    mail = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(mail, EmailMessage)
    assert defects(mail) == []
    plumbing = {"date", "content-type", "content-transfer-encoding", "mime-version"}
    return {
        "headers": [(k, str(v)) for k, v in mail.items() if k.lower() not in plumbing],
        "type": mail.get_content_type(),
        "parts": [
            (p.get_content_type(), p.get_content_charset(), p["Content-Transfer-Encoding"], p.get_content())
            for p in mail.walk()
            if not p.is_multipart()
        ],
    }


@pytest.mark.parametrize("shape", list(SHAPES))
def test_the_fast_path_parses_exactly_as_the_standard_librarys_message_does(shape: str) -> None:
    content, name, headers = SHAPES[shape]
    fast = render(email_to(content=content, name=name, headers=headers), "ann@example.com", FROM, "AlertFlow Alerts")
    assert fast.isascii() and b"\r\n" in fast and b"\n" not in fast.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in fast.split(b"\r\n"))
    assert parsed_summary(fast) == parsed_summary(library_render(content, name, headers))


def test_a_long_unsubscribe_url_stays_literal_not_an_encoded_word() -> None:
    """RFC 2369 headers are structured: an RFC 2047 encoded word there hides the URL."""
    raw = render(email_to(headers=UNSUBSCRIBE), "ann@example.com", FROM, None)
    assert f"List-Unsubscribe: {UNSUBSCRIBE['List-Unsubscribe']}\r\n".encode() in raw


def test_a_multipart_message_has_a_blank_line_between_its_headers_and_its_body() -> None:
    content = {"subject": "s", "text": "t", "html": "<p>h</p>"}
    headers, _, body = render(email_to(content=content), "ann@example.com", FROM, None).partition(b"\r\n\r\n")
    assert b"multipart/alternative" in headers and body.startswith(b"--")
