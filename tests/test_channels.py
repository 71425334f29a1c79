"""Real providers through the whole app: tenant set-up, fail-over, receipts, pruning, sealed secrets."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from alertflow.providers.resilience import CIRCUIT_COOLDOWN_SECONDS, CIRCUIT_FAILURES, CircuitBreaker, TokenBucket
from tests.conftest import Harness, StartApp
from tests.fakes.fcm import FakeFcm
from tests.fakes.http import Reply, closed_port_url
from tests.fakes.smtp import FakeSmtpServer
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.fakes.webpush import FakePushService

PUBLIC_URL = "https://alertflow.example"
FAST = {"backoff_base_seconds": 0.02, "backoff_max_seconds": 0.1}
MAIL = {"email": {"subject": "Disk alert", "text": "/var is 95% full", "html": "<p>/var is <b>95%</b> full</p>"}}


async def set_channel(app: Harness, channel: str, *providers: dict[str, Any], role: str = "owner") -> Any:
    return await app.call("PUT", f"/v1/channels/{channel}", role, {"providers": list(providers)})


def smtp(server: FakeSmtpServer, **config: Any) -> dict[str, Any]:
    return {
        "type": "smtp",
        "config": {
            "host": server.host,
            "port": server.port,
            "security": "none",
            "from_address": "alerts@alertflow.test",
            "from_name": "AlertFlow",
            **config,
        },
    }


def twilio(fake: FakeTwilio) -> dict[str, Any]:
    return {
        "type": "twilio",
        "config": {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "from_number": "+15017122661",
            "api_base_url": fake.url(),
        },
    }


async def publish_one(app: Harness, body: dict[str, Any]) -> dict[str, Any]:
    nid = (await app.publish(body))["notifications"][0]["id"]
    return await app.settled(nid)


async def test_email_over_starttls_with_auth_arrives_with_the_right_headers_and_parts(
    app: Harness, start_fake_smtp: Any, tls_cert: Any
) -> None:
    server = await start_fake_smtp(security="starttls", cert=tls_cert, credentials=("alertflow", "s3cret"))
    resp = await set_channel(
        app,
        "email",
        # A tenant names no file on the server: its private CA comes inline, as PEM text.
        smtp(
            server, security="starttls", username="alertflow", password="s3cret", ca_pem=tls_cert.cert_file.read_text()
        ),
    )
    assert resp.status == 200, await resp.text()
    done = await publish_one(app, {"to": {"email": "ann@example.com", "name": "Ann"}, "content": MAIL})
    [delivery] = done["deliveries"]
    assert delivery["status"] == "sent" and delivery["provider"] == "smtp"
    [mail] = server.messages
    msg = mail.message
    assert msg["Subject"] == "Disk alert" and "AlertFlow <alerts@alertflow.test>" in msg["From"]
    assert "ann@example.com" in msg["To"] and msg["Message-ID"] and msg["Date"]
    assert delivery["id"] in msg["Message-ID"], "Message-ID is derived from the delivery, stable across retries"
    parts = {p.get_content_type(): p.get_content() for p in msg.walk() if not p.is_multipart()}
    assert "/var is 95% full" in parts["text/plain"] and "<b>95%</b>" in parts["text/html"]
    assert server.logins == ["alertflow"]


async def test_a_4xx_reply_is_retried_and_then_sent(start_app: StartApp, fake_smtp: FakeSmtpServer) -> None:
    app = await start_app(queue=FAST)
    await set_channel(app, "email", smtp(fake_smtp))
    fake_smtp.data_replies.append("451 4.3.0 try later")
    done = await publish_one(app, {"to": {"email": "ann@example.com"}, "content": MAIL})
    assert [a["outcome"] for a in done["deliveries"][0]["attempts"]] == ["retry", "sent"]
    assert len(fake_smtp.messages) == 1


async def test_a_5xx_reply_fails_after_exactly_one_try(start_app: StartApp, fake_smtp: FakeSmtpServer) -> None:
    app = await start_app(queue=FAST)
    await set_channel(app, "email", smtp(fake_smtp))
    fake_smtp.rcpt_replies["gone@example.com"] = "550 5.1.1 no such user"
    done = await publish_one(app, {"to": {"email": "gone@example.com"}, "content": MAIL})
    [delivery] = done["deliveries"]
    assert delivery["status"] == "failed" and len(delivery["attempts"]) == 1 and "550" in delivery["reason"]


async def test_when_the_primary_refuses_connections_the_secondary_delivers_in_the_same_attempt(
    app: Harness, fake_smtp: FakeSmtpServer
) -> None:
    port = int(closed_port_url().rsplit(":", 1)[1].split("/")[0])
    primary = {
        "type": "smtp",
        "config": {
            "host": "127.0.0.1",
            "port": port,
            "security": "none",
            "from_address": "alerts@alertflow.test",
            "timeout_seconds": 2,
        },
    }
    await set_channel(app, "email", primary, smtp(fake_smtp))
    done = await publish_one(app, {"to": {"email": "ann@example.com"}, "content": MAIL})
    [delivery] = done["deliveries"]
    assert delivery["status"] == "sent" and delivery["provider"] == "smtp"
    assert [a["outcome"] for a in delivery["attempts"]] == ["failed_over", "sent"]
    assert len(fake_smtp.messages) == 1


async def test_twilio_sends_and_a_signed_status_callback_marks_it_delivered(
    start_app: StartApp, fake_twilio: FakeTwilio
) -> None:
    app = await start_app(server={"public_url": PUBLIC_URL})
    assert (await set_channel(app, "sms", twilio(fake_twilio))).status == 200
    done = await publish_one(app, {"to": {"phone": "+15558675310"}, "content": {"sms": {"body": "CPU > 90%"}}})
    [delivery] = done["deliveries"]
    assert delivery["status"] == "sent" and delivery["provider_message_id"].startswith("SM")
    [sent] = fake_twilio.messages
    path = f"/v1/receipts/twilio/{delivery['id']}"
    assert (sent["To"], sent["From"], sent["Body"], sent["StatusCallback"]) == (
        "+15558675310",
        "+15017122661",
        "CPU > 90%",
        PUBLIC_URL + path,
    )

    form = {"MessageSid": delivery["provider_message_id"], "AccountSid": ACCOUNT_SID, "MessageStatus": "delivered"}
    forged = await app.client.post(path, data=form, headers={"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"})
    assert forged.status == 403
    assert (await app.notification(done["id"]))["deliveries"][0]["status"] == "sent"
    signed = await app.client.post(
        path, data=form, headers={"X-Twilio-Signature": fake_twilio.signature(PUBLIC_URL + path, form)}
    )
    assert signed.status == 204
    after = (await app.notification(done["id"]))["deliveries"][0]
    assert after["status"] == "delivered" and after["delivered_at"]


async def sent_over_twilio(start_app: StartApp, fake_twilio: FakeTwilio) -> tuple[Harness, dict[str, Any], str]:
    """An app with Twilio set up, one SMS sent through it (the delivery, with its
    notification_id), and that delivery's callback path."""
    app = await start_app(server={"public_url": PUBLIC_URL})
    assert (await set_channel(app, "sms", twilio(fake_twilio))).status == 200
    done = await publish_one(app, {"to": {"phone": "+15558675310"}, "content": {"sms": {"body": "CPU > 90%"}}})
    [delivery] = done["deliveries"]
    assert delivery["status"] == "sent"
    return app, {**delivery, "notification_id": done["id"]}, f"/v1/receipts/twilio/{delivery['id']}"


async def twilio_callback(app: Harness, fake_twilio: FakeTwilio, path: str, sid: str, status: str) -> int:
    """Twilio's signed status callback for message ``sid``."""
    form = {"MessageSid": sid, "AccountSid": ACCOUNT_SID, "MessageStatus": status}
    if status in ("failed", "undelivered"):
        form["ErrorCode"] = "30008"
    signature = fake_twilio.signature(PUBLIC_URL + path, form)
    return (await app.client.post(path, data=form, headers={"X-Twilio-Signature": signature})).status


async def test_a_signed_twilio_callback_about_another_message_is_refused(
    start_app: StartApp, fake_twilio: FakeTwilio
) -> None:
    app, delivery, path = await sent_over_twilio(start_app, fake_twilio)
    other = "SM" + "f" * 32
    assert other != delivery["provider_message_id"]
    assert await twilio_callback(app, fake_twilio, path, other, "failed") == 403
    after = (await app.notification(delivery["notification_id"]))["deliveries"][0]
    assert after["status"] == "sent" and [a["outcome"] for a in after["attempts"]] == ["sent"]


@pytest.mark.parametrize(
    ("first", "late", "kept"), [("delivered", "failed", "delivered"), ("undelivered", "delivered", "failed")]
)
async def test_twilio_receipts_only_move_a_delivery_forward_and_a_late_one_is_kept_as_an_event(
    start_app: StartApp, fake_twilio: FakeTwilio, first: str, late: str, kept: str
) -> None:
    app, delivery, path = await sent_over_twilio(start_app, fake_twilio)
    sid = delivery["provider_message_id"]
    assert await twilio_callback(app, fake_twilio, path, sid, first) == 204
    settled = (await app.notification(delivery["notification_id"]))["deliveries"][0]
    assert await twilio_callback(app, fake_twilio, path, sid, late) == 204
    after = (await app.notification(delivery["notification_id"]))["deliveries"][0]
    assert after["status"] == kept
    assert (after["reason"], after["delivered_at"]) == (settled["reason"], settled["delivered_at"])
    assert [a["outcome"] for a in after["attempts"]] == ["sent", f"receipt:{first}", f"receipt:{late}"]


async def test_twilio_invalid_numbers_fail_and_outages_are_retried(
    start_app: StartApp, fake_twilio: FakeTwilio
) -> None:
    app = await start_app(queue=FAST)
    await set_channel(app, "sms", twilio(fake_twilio))
    bad = await publish_one(app, {"to": {"phone": "+15550001234"}, "content": {"sms": {"body": "x"}}})
    assert bad["deliveries"][0]["status"] == "failed" and "21211" in bad["deliveries"][0]["reason"]
    fake_twilio.script(Reply(503, json={"code": 20503, "message": "unavailable", "status": 503}))
    ok = await publish_one(app, {"to": {"phone": "+15558675310"}, "content": {"sms": {"body": "x"}}})
    assert [a["outcome"] for a in ok["deliveries"][0]["attempts"]] == ["retry", "sent"]


async def test_an_unregistered_fcm_token_is_pruned_from_the_user(app: Harness, fake_fcm: FakeFcm) -> None:
    await set_channel(
        app,
        "push",
        {
            "type": "fcm",
            "config": {"service_account_json": fake_fcm.service_account_json(), "endpoint": fake_fcm.url()},
        },
    )
    await app.call("PUT", "/v1/users/u1", "admin", {"push_tokens": ["phone-token", "old-token"]})
    fake_fcm.unregistered.add("old-token")
    done = await publish_one(app, {"to": {"user_id": "u1"}, "content": {"push": {"title": "Hi", "body": "there"}}})
    [delivery] = done["deliveries"]
    assert delivery["status"] == "sent"
    assert "device_removed" in [a["outcome"] for a in delivery["attempts"]]
    user = await (await app.call("GET", "/v1/users/u1")).json()
    assert user["push_tokens"] == ["phone-token"]
    [message] = fake_fcm.messages
    assert message["notification"] == {"title": "Hi", "body": "there"} and message["token"] == "phone-token"


async def test_an_expired_browser_subscription_is_pruned(app: Harness, fake_push_service: FakePushService) -> None:
    from alertflow_webpush import generate_vapid_keys

    private, _ = generate_vapid_keys()
    await set_channel(
        app,
        "push",
        {"type": "webpush", "config": {"vapid_private_key": private, "vapid_subject": "mailto:ops@alertflow.test"}},
    )
    gone = fake_push_service.subscribe()
    fake_push_service.expire(gone)
    await app.call("PUT", "/v1/users/u1", "admin", {"webpush": [gone.info]})
    done = await publish_one(app, {"to": {"user_id": "u1"}, "content": {"push": {"title": "Hi"}}})
    assert done["deliveries"][0]["status"] == "failed"
    assert (await (await app.call("GET", "/v1/users/u1")).json())["webpush"] == []


async def test_push_goes_to_each_device_kinds_own_provider(
    app: Harness, fake_fcm: FakeFcm, fake_push_service: FakePushService
) -> None:
    from alertflow_webpush import generate_vapid_keys

    private, _ = generate_vapid_keys()
    await set_channel(
        app,
        "push",
        {
            "type": "fcm",
            "config": {"service_account_json": fake_fcm.service_account_json(), "endpoint": fake_fcm.url()},
        },
        {"type": "webpush", "config": {"vapid_private_key": private, "vapid_subject": "mailto:ops@alertflow.test"}},
    )
    browser = fake_push_service.subscribe()
    await app.call("PUT", "/v1/users/u1", "admin", {"push_tokens": ["phone"], "webpush": [browser.info]})
    done = await publish_one(app, {"to": {"user_id": "u1"}, "content": {"push": {"title": "Hi", "body": "all"}}})
    [delivery] = done["deliveries"]
    assert delivery["status"] == "sent" and delivery["provider"] == "fcm+webpush"
    assert len(fake_fcm.messages) == 1 and len(fake_push_service.deliveries) == 1


async def test_a_device_kind_no_provider_serves_gets_nothing_and_fails_the_delivery_when_it_is_all_there_is(
    app: Harness, fake_fcm: FakeFcm, fake_push_service: FakePushService
) -> None:
    await set_channel(
        app,
        "push",
        {
            "type": "fcm",
            "config": {"service_account_json": fake_fcm.service_account_json(), "endpoint": fake_fcm.url()},
        },
    )
    browser = fake_push_service.subscribe()  # a browser, and no webpush provider set up
    await app.call("PUT", "/v1/users/u1", "admin", {"push_tokens": ["phone"], "webpush": [browser.info]})
    done = await publish_one(app, {"to": {"user_id": "u1"}, "content": {"push": {"title": "Hi", "body": "all"}}})
    [delivery] = done["deliveries"]
    assert delivery["status"] == "sent" and len(fake_fcm.messages) == 1 and fake_push_service.deliveries == []
    assert delivery["provider"] == "fcm"  # the browser's kind had no provider to name

    await app.call("PUT", "/v1/users/u1", "admin", {"push_tokens": [], "webpush": [browser.info]})
    done = await publish_one(app, {"to": {"user_id": "u1"}, "content": {"push": {"title": "Hi", "body": "web"}}})
    [delivery] = done["deliveries"]
    assert delivery["status"] == "failed" and delivery["reason"] == "no provider serves this push recipient", delivery
    assert delivery["provider"] is None
    assert len(fake_fcm.messages) == 1  # nothing more went to the phone


async def test_a_secret_set_through_the_api_is_never_shown_stored_or_logged(
    app: Harness, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "tok-7d1f9e3a-never-leak"
    async with FakeTwilio(auth_token=secret) as fake_twilio:
        await _secret_never_leaks(app, fake_twilio, secret, tmp_path, caplog)


async def _secret_never_leaks(
    app: Harness, fake_twilio: FakeTwilio, secret: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    provider = twilio(fake_twilio)
    provider["config"]["auth_token"] = secret
    with caplog.at_level(logging.DEBUG):
        put = await set_channel(app, "sms", provider)
        got = await app.call("GET", "/v1/channels/sms")
        listing = await app.call("GET", "/v1/providers")
        await publish_one(app, {"to": {"phone": "+15558675310"}, "content": {"sms": {"body": "x"}}})
    for resp in (put, got, listing):
        assert secret not in await resp.text()
    assert (await got.json())["providers"][0]["config"]["auth_token"] == "********"
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert secret not in caplog.text
    assert len(fake_twilio.messages) == 1, "the sealed secret still works"


async def test_channel_setups_are_validated_and_owner_only(app: Harness) -> None:
    resp = await set_channel(app, "sms", {"type": "carrier-pigeon"})
    assert resp.status == 422 and (await resp.json())["errors"][0]["field"] == "providers.0.type"
    resp = await set_channel(app, "email", {"type": "smtp", "config": {"port": 25}})
    fields = [e["field"] for e in (await resp.json())["errors"]]
    assert resp.status == 422 and fields[0].startswith("providers.0.config."), fields
    resp = await set_channel(app, "sms", {"type": "smtp", "config": {}})
    assert resp.status == 422, "a provider must serve the channel it is set on"
    assert (await set_channel(app, "sms", {"type": "outbox"}, role="admin")).status == 403
    assert (await app.call("PUT", "/v1/channels/fax", body={"providers": [{"type": "outbox"}]})).status == 404
    assert await app.rows("SELECT * FROM channel_providers") == []


async def test_deleting_a_setup_falls_back_to_the_default(app: Harness, fake_twilio: FakeTwilio) -> None:
    await set_channel(app, "sms", twilio(fake_twilio))
    assert (await (await app.call("GET", "/v1/channels/sms")).json())["source"] == "tenant"
    assert (await app.call("DELETE", "/v1/channels/sms")).status == 204
    after = await (await app.call("GET", "/v1/channels/sms")).json()
    assert after["source"] == "builtin" and after["providers"][0]["type"] == "outbox"


def test_the_circuit_opens_after_repeated_failures_and_lets_a_trial_through_after_cooldown() -> None:
    now = [0.0]
    breaker = CircuitBreaker(lambda: now[0])
    for _ in range(CIRCUIT_FAILURES - 1):
        breaker.failed()
    assert breaker.allow()
    breaker.failed()
    assert not breaker.allow() and breaker.state == "open"
    now[0] += CIRCUIT_COOLDOWN_SECONDS
    assert breaker.allow() and breaker.state == "half-open"
    breaker.succeeded()
    assert breaker.state == "closed"


def test_the_token_bucket_paces_to_its_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(rate=10, burst=2, clock=lambda: now[0])
    assert [bucket.reserve() for _ in range(4)] == [0.0, 0.0, pytest.approx(0.1), pytest.approx(0.2)]
    now[0] += 1.0
    assert bucket.reserve() == 0.0


async def test_a_rate_limited_provider_paces_sends(start_app: StartApp, script: Any) -> None:
    app = await start_app(providers={"sms": {**script.provider(), "rate_per_second": 20}})
    out = await app.publish(
        {"to": [{"phone": f"+1555000{i:04d}"} for i in range(6)], "content": {"sms": {"body": "x"}}}
    )
    for n in out["notifications"]:
        await app.settled(n["id"])
    times = sorted(s["at"] for s in script.sends())
    assert times[-1] - times[0] >= (6 - 1) / 20 - 0.02, "six sends at 20/s take at least a quarter second"


async def test_a_marketing_email_over_smtp_carries_both_list_unsubscribe_headers(
    app: Harness, fake_smtp: FakeSmtpServer
) -> None:
    await set_channel(app, "email", smtp(fake_smtp))
    await app.call("PUT", "/v1/users/ann", "admin", {"email": "ann@example.com"})
    done = await publish_one(app, {"to": {"user_id": "ann"}, "content": MAIL, "category": "marketing"})
    assert done["status"] == "sent"
    msg = fake_smtp.messages[0].message
    assert msg["List-Unsubscribe"].strip().startswith("<http") and "/v1/unsubscribe/" in msg["List-Unsubscribe"]
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


@pytest.mark.parametrize(
    ("provider", "field"),
    [
        (
            {"type": "webhook", "config": {"url": "https://hooks.example/x", "secret": "s", "timeout_seconds": 301}},
            "timeout_seconds",
        ),
        (
            {"type": "webhook", "config": {"url": "https://hooks.example/x", "secret": "s", "timeout_seconds": 0}},
            "timeout_seconds",
        ),
        (
            {"type": "webhook", "config": {"url": "https://hooks.example/x", "secret": "s", "timeout_seconds": 1e308}},
            "timeout_seconds",
        ),
        (
            {"type": "smtp", "config": {"host": "mail.example", "from_address": "a@b.test", "timeout_seconds": 86400}},
            "timeout_seconds",
        ),
        ({"type": "smtp", "config": {"host": "mail.example", "from_address": "a@b.test", "port": 70000}}, "port"),
        ({"type": "smtp", "config": {"host": "mail.example", "from_address": "a@b.test", "port": 0}}, "port"),
        (
            {"type": "smtp", "config": {"host": "mail.example", "from_address": "a@b.test", "max_connections": 0}},
            "max_connections",
        ),
        (
            {"type": "smtp", "config": {"host": "mail.example", "from_address": "a@b.test", "max_connections": 257}},
            "max_connections",
        ),
    ],
)
async def test_a_providers_numeric_setting_out_of_bounds_is_refused_naming_it(
    app: Harness, provider: dict[str, Any], field: str
) -> None:
    channel = "webhook" if provider["type"] == "webhook" else "email"
    resp = await set_channel(app, channel, provider)
    assert resp.status == 422, await resp.text()
    [error] = (await resp.json())["errors"]
    assert error["field"] == f"providers.0.config.{field}"
    assert await app.rows("SELECT * FROM channel_providers") == []
    provider["config"][field] = {"timeout_seconds": 300, "max_connections": 256}.get(field, 2525)
    assert (await set_channel(app, channel, provider)).status == 200, "the bound itself is fine"


async def test_the_smtp_pool_runs_as_many_sends_at_once_as_the_email_workers(
    start_app: StartApp, fake_smtp: FakeSmtpServer
) -> None:
    app = await start_app(workers={"email": 5}, providers={"email": smtp(fake_smtp)["config"] | {"type": "smtp"}})
    fake_smtp.hold_data()
    for n in range(10):
        await app.publish({"to": {"email": f"u{n}@example.com"}, "content": MAIL})
    await fake_smtp.until_held(5)
    fake_smtp.release_data()
    await app.until(lambda: len(fake_smtp.messages) == 10)
    assert fake_smtp.most_held == 5
    assert fake_smtp.connections == 5


@pytest.mark.parametrize("rate", [float("nan"), float("inf"), 0, -1, True, "5"])
def test_an_operators_rate_that_is_not_a_finite_positive_number_is_a_config_error(tmp_path: Path, rate: Any) -> None:
    from alertflow.app import create_app
    from alertflow.config import ConfigError
    from tests.conftest import make_config

    config = make_config(tmp_path, providers={"sms": {"type": "outbox", "rate_per_second": rate}})
    with pytest.raises(ConfigError, match=r"^providers\.sms\.0\.rate_per_second: expected a finite number above 0$"):
        create_app(config)


async def test_a_stored_setup_that_can_no_longer_be_read_is_shown_as_such_and_can_be_replaced(
    start_app: StartApp, fake_twilio: FakeTwilio
) -> None:
    app = await start_app()
    await set_channel(app, "sms", twilio(fake_twilio))
    await set_channel(app, "webhook", {"type": "webhook", "config": {"url": "https://hooks.example/x", "secret": "s"}})
    # The server's secret key was rotated: the sealed credentials no longer open.
    app = await start_app(restart=app, server={"secret_key": "rotated-secret"})
    # Another stored set-up names a plugin since uninstalled.
    await app.svc.database.write(
        lambda conn: conn.execute(
            "UPDATE channel_providers SET providers = ? WHERE channel = 'webhook'",
            ('[{"type": "carrier-pigeon", "config": {}}]',),
        )
    )
    app.svc.channels.changed(app.tenant_id, "webhook")
    for channel, why in (("sms", "another secret key"), ("webhook", "'carrier-pigeon' is not installed")):
        got = await app.call("GET", f"/v1/channels/{channel}")
        assert got.status == 200
        shown = await got.json()
        assert shown["source"] == "tenant" and shown["providers"] == []
        assert why in shown["unreadable"] and "again" in shown["unreadable"]
    assert (await app.call("GET", "/v1/providers")).status == 200
    masked = twilio(fake_twilio)
    masked["config"]["auth_token"] = "********"
    resp = await set_channel(app, "sms", masked)
    assert resp.status == 422, "a mask stands for nothing once the stored secret is unreadable"
    assert (await resp.json())["errors"][0]["field"] == "providers.0.config.auth_token"
    replaced = await set_channel(app, "sms", twilio(fake_twilio))
    assert replaced.status == 200 and "unreadable" not in await replaced.json()
    await publish_one(app, {"to": {"phone": "+15558675310"}, "content": {"sms": {"body": "x"}}})
    assert len(fake_twilio.messages) == 1, "the set-up put back sends again"
