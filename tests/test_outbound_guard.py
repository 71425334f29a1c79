"""Outbound requests cannot be aimed inside: a tenant's targets are checked when they are set
(422 naming the setting) and again on every connection, against the address connected to."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests
from alertflow_provider_kit import guarded_session

from alertflow.config import ConfigError, load
from alertflow.outcomes import MAX_ERROR_CHARS
from alertflow.providers.netguard import OutboundGuard, parse_networks
from tests.conftest import Harness, StartApp
from tests.fakes.dns import FakeDns
from tests.fakes.fcm import FakeFcm
from tests.fakes.http import HttpPeer, Reply
from tests.fakes.smtp import FakeSmtpServer
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio
from tests.fakes.webhook import PATH, SECRET, WebhookReceiver
from tests.fakes.webpush import FakePushService

# The default: no network inside is open to tenants.
CLOSED: dict[str, list[str]] = {"allowed_private_networks": []}
LOOPBACK_OPEN = {"allowed_private_networks": ["127.0.0.0/8"]}
# Two tries, quickly: enough to see a refused connection retried and then given up.
FAST = {"max_attempts": 2, "backoff_base_seconds": 0.01, "backoff_max_seconds": 0.02}
PUBLIC_IP = "93.184.216.34"

# Ways of writing an address inside, as a URL host; the OS reads every one of them so.
INSIDE = [
    "127.0.0.1",
    "localhost",
    "localhost.",
    "api.localhost",
    "0.0.0.0",
    "0x7f000001",
    "2130706433",
    "127.1",
    "017700000001",
    "[::1]",
    "[::ffff:127.0.0.1]",
    "[::]",
    "169.254.169.254",
    "10.0.0.5",
    "172.16.3.4",
    "192.168.1.10",
    "100.64.0.1",
    "[fe80::1]",
    "[fc00::1]",
    "[fd12:3456::1]",
    "224.0.0.1",
    "[ff02::1]",
    "255.255.255.255",
]


async def set_channel(app: Harness, channel: str, *providers: dict[str, Any]) -> Any:
    return await app.call("PUT", f"/v1/channels/{channel}", body={"providers": list(providers)})


def renamed(url: str, name: str) -> str:
    """The fake's URL with its 127.0.0.1 written as a host name."""
    return url.replace("127.0.0.1", name, 1)


def webhook(url: str) -> dict[str, Any]:
    return {"type": "webhook", "config": {"url": url, "secret": SECRET}}


def twilio(base_url: str) -> dict[str, Any]:
    config = {"account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from_number": "+15017122661"}
    return {"type": "twilio", "config": {**config, "api_base_url": base_url}}


def msg91(base_url: str) -> dict[str, Any]:
    return {
        "type": "msg91",
        "config": {"auth_key": "k", "sender_id": "ALERTS", "flow_id": "f1", "api_base_url": base_url},
    }


def fcm(endpoint: str, token_uri: str) -> dict[str, Any]:
    key = {**FakeFcm().service_account_info(), "token_uri": token_uri}
    return {"type": "fcm", "config": {"service_account_json": json.dumps(key), "endpoint": endpoint}}


def smtp(host: str, port: int = 25) -> dict[str, Any]:
    config = {"host": host, "port": port, "security": "none", "from_address": "alerts@alertflow.test"}
    return {"type": "smtp", "config": config}


# Every setting through which a tenant names a host: (channel, set-up aimed at host, field).
TARGETS: dict[str, tuple[str, Callable[[str], dict[str, Any]], str]] = {
    "webhook url": ("webhook", lambda h: webhook(f"http://{h}:8080/hook"), "url"),
    "twilio api_base_url": ("sms", lambda h: twilio(f"http://{h}:8080"), "api_base_url"),
    "msg91 api_base_url": ("sms", lambda h: msg91(f"http://{h}"), "api_base_url"),
    "fcm endpoint": ("push", lambda h: fcm(f"http://{h}", f"https://{PUBLIC_IP}/token"), "endpoint"),
    "fcm token_uri": ("push", lambda h: fcm(f"https://{PUBLIC_IP}", f"http://{h}/token"), "service_account_json"),
    "smtp host": ("email", lambda h: smtp(h.strip("[]")), "host"),
}


@pytest.mark.parametrize("target", TARGETS)
async def test_a_target_inside_is_refused_when_set_naming_the_field(start_app: StartApp, target: str) -> None:
    app = await start_app(security=CLOSED)
    channel, aimed_at, field = TARGETS[target]
    for host in INSIDE:
        resp = await set_channel(app, channel, aimed_at(host))
        body = await resp.json()
        assert resp.status == 422, (host, body)
        [error] = body["errors"]
        assert error["field"] == f"providers.0.config.{field}", host
        assert error["message"].startswith("refused: ") and "allowed_private_networks" in error["message"]
    assert await app.rows("SELECT * FROM channel_providers") == []
    assert (await set_channel(app, channel, aimed_at(PUBLIC_IP))).status == 200, "a public address is fine"


async def test_allowed_private_networks_open_exactly_the_listed_ranges(start_app: StartApp) -> None:
    app = await start_app(security={"allowed_private_networks": ["10.0.0.0/8", "fd00::/8"]})
    for host in ("10.20.30.40", "[fd12::1]"):
        assert (await set_channel(app, "webhook", webhook(f"http://{host}/hook"))).status == 200, host
    for host in ("192.168.1.10", "127.0.0.1", "localhost", "169.254.169.254", "[fe80::1]", "[fc00::1]"):
        assert (await set_channel(app, "webhook", webhook(f"http://{host}/hook"))).status == 422, host


async def test_localhost_is_taken_by_name_once_loopback_is_opened(start_app: StartApp) -> None:
    # Both loopbacks: where the hosts file also maps localhost to ::1 that address must pass too.
    app = await start_app(security={"allowed_private_networks": ["127.0.0.0/8", "::1/128"]})
    for host in ("localhost", "api.localhost", "127.0.0.1"):
        assert (await set_channel(app, "webhook", webhook(f"http://{host}/hook"))).status == 200, host


def test_a_bad_network_in_allowed_private_networks_is_a_config_error_naming_it() -> None:
    env = {"ALERTFLOW_SECURITY__ALLOWED_PRIVATE_NETWORKS": '["10.0.0.0/8", "10.0.0.0/33"]'}
    with pytest.raises(ConfigError, match=r"^security\.allowed_private_networks: .*'10\.0\.0\.0/33'"):
        load(env=env)


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("169.254.169.254", "link-local"),
        ("fe80::1%lo", "link-local"),
        ("10.1.2.3", "private"),
        ("172.31.0.1", "private"),
        ("192.168.0.1", "private"),
        ("fc00::1", "private"),
        ("224.0.0.251", "multicast"),
        ("ff02::1", "multicast"),
        ("::7f00:1", "reserved"),
        ("100.64.0.1", "not publicly routable"),
    ],
)
def test_the_guard_says_why_an_address_is_refused(address: str, kind: str) -> None:
    why = OutboundGuard().refusal(address)
    assert why is not None and f" is {kind};" in why


def test_public_addresses_pass_and_the_operators_guard_lets_everything_through() -> None:
    guard = OutboundGuard()
    assert guard.refusal(PUBLIC_IP) is None and guard.refusal("2606:4700:4700::1111") is None
    assert guard.unrestricted().refusal("127.0.0.1") is None


# -- a browser's Web Push endpoint, which a tenant stores with the user: checked as it is stored

KEYS = {
    "p256dh": "BNcRdreALRFXTkOOUHK1EtK2wtaz5Ry4YfYCA_0QTpQtUbVlUls0VJXg7A8u-Ts1XbjhazAkj7I99e8QcYP7DkM",
    "auth": "tBHItJI5svbpez7KI4CCXg",
}


def subscription(endpoint: str) -> dict[str, Any]:
    return {"endpoint": endpoint, "keys": KEYS}


async def put_webpush(app: Harness, *endpoints: str) -> Any:
    return await app.call("PUT", "/v1/users/u1", "admin", {"webpush": [subscription(e) for e in endpoints]})


async def test_a_web_push_endpoint_inside_is_refused_when_stored_naming_the_field(start_app: StartApp) -> None:
    app = await start_app(security=CLOSED)
    public = f"https://{PUBLIC_IP}/push/a"
    for host in INSIDE:
        resp = await put_webpush(app, public, f"https://{host}/push/b")
        body = await resp.json()
        assert resp.status == 422, (host, body)
        [error] = body["errors"]
        assert error["field"] == "webpush.1.endpoint", host
        assert error["message"].startswith("refused: ") and "allowed_private_networks" in error["message"], host
    assert await app.rows("SELECT * FROM users") == []
    assert (await put_webpush(app, public)).status == 200, "a public push service is fine"


@pytest.mark.parametrize(
    "endpoint",
    [
        f"http://{PUBLIC_IP}/push/a",  # a public push service over plain HTTP
        "http://push.example/push/a",  # a name: plain HTTP only to an address literal opened
        "http://127.0.0.2/push/a",  # inside, in no opened network
        f"wss://{PUBLIC_IP}/push/a",
        "https:///push/a",  # no host
    ],
)
async def test_a_web_push_endpoint_must_be_https_unless_its_address_is_opened_inside(
    start_app: StartApp, endpoint: str
) -> None:
    dns = FakeDns()
    dns.records["push.example"] = "127.0.0.1"
    app = await start_app(security={"allowed_private_networks": ["127.0.0.1/32"]}, resolve=dns)
    resp = await put_webpush(app, endpoint)
    assert resp.status == 422, await resp.text()
    assert [e["field"] for e in (await resp.json())["errors"]] == ["webpush.0.endpoint"]
    assert await app.rows("SELECT * FROM users") == []


async def test_plain_http_to_an_address_in_an_opened_network_is_stored(start_app: StartApp) -> None:
    # The local fakes (and a push relay of the operator's own on its network) speak plain HTTP.
    app = await start_app(security={"allowed_private_networks": ["127.0.0.1/32", "fd00::/8"]})
    resp = await put_webpush(app, "http://127.0.0.1:8080/push/a", "http://[fd12::1]/push/b")
    assert resp.status == 200, await resp.text()
    stored = (await (await app.call("GET", "/v1/users/u1")).json())["webpush"]
    assert [s["endpoint"] for s in stored] == ["http://127.0.0.1:8080/push/a", "http://[fd12::1]/push/b"]


async def test_a_web_push_endpoint_whose_name_resolves_inside_is_refused_when_stored(start_app: StartApp) -> None:
    dns = FakeDns()
    dns.records["push.example"] = "10.1.2.3"
    app = await start_app(security=CLOSED, resolve=dns)
    resp = await put_webpush(app, "https://push.example/push/a")
    assert resp.status == 422
    assert "10.1.2.3 is private" in (await resp.json())["errors"][0]["message"]
    dns.records["push.example"] = PUBLIC_IP
    assert (await put_webpush(app, "https://push.example/push/a")).status == 200


# -- on every connection: a name re-pointed inside after it was set (DNS rebinding)


async def rebinding_setup(
    start_app: StartApp, allowed: dict[str, list[str]], target: Callable[[str], dict[str, Any]], channel: str
) -> Harness:
    """An app whose tenant set ``channel`` up while ``peer.example`` was public; the name now
    points at 127.0.0.1, where the fake listens."""
    dns = FakeDns()
    dns.records["peer.example"] = PUBLIC_IP
    app = await start_app(security=allowed, queue=FAST, resolve=dns)
    resp = await set_channel(app, channel, target("peer.example"))
    assert resp.status == 200, await resp.text()
    dns.records["peer.example"] = "127.0.0.1"
    return app


SMS = {"to": {"phone": "+15558675310"}, "content": {"sms": {"body": "CPU > 90%"}}}
PUSH = {"to": {"user_id": "u1"}, "content": {"push": {"title": "Disk", "body": "95%"}}}
MAIL = {"to": {"email": "ann@example.com"}, "content": {"email": {"subject": "Disk", "text": "95%"}}}
HOOK = {"to": {"user_id": "u1"}, "content": {"webhook": {"body": {"disk": "95%"}}}}

# Each client library the providers use: aiohttp (webhook), requests (twilio, fcm), aiosmtplib.
# (channel, fake, set-up aimed at a name, publish body, what the fake received)
REBOUND: dict[
    str, tuple[str, type[Any], Callable[[Any, str], dict[str, Any]], dict[str, Any], Callable[[Any], int]]
] = {
    "webhook": (
        "webhook",
        WebhookReceiver,
        lambda f, n: webhook(renamed(f.url(PATH), n)),
        HOOK,
        lambda f: len(f.requests),
    ),
    "twilio": ("sms", FakeTwilio, lambda f, n: twilio(renamed(f.url(), n)), SMS, lambda f: len(f.requests)),
    "fcm": (
        "push",
        FakeFcm,
        lambda f, n: fcm(renamed(f.url(), n), renamed(f.url("/token"), n)),
        PUSH,
        lambda f: len(f.requests),
    ),
    "smtp": ("email", FakeSmtpServer, lambda f, n: smtp(n, f.port), MAIL, lambda f: f.connections),
}


@pytest.mark.parametrize("kind", REBOUND)
@pytest.mark.parametrize(("allowed", "reached"), [(CLOSED, False), (LOOPBACK_OPEN, True)])
async def test_a_name_re_pointed_inside_after_it_was_set_is_refused_on_connect(
    start_app: StartApp, kind: str, allowed: dict[str, list[str]], reached: bool
) -> None:
    channel, fake_type, aimed_at, body, received = REBOUND[kind]
    async with fake_type() as fake:
        await _rebound(
            start_app, allowed, reached, channel, lambda name: aimed_at(fake, name), body, lambda: received(fake)
        )


async def _rebound(
    start_app: StartApp,
    allowed: dict[str, list[str]],
    reached: bool,
    channel: str,
    aimed_at: Callable[[str], dict[str, Any]],
    body: dict[str, Any],
    received: Callable[[], int],
) -> None:
    app = await rebinding_setup(start_app, allowed, aimed_at, channel)
    await app.call("PUT", "/v1/users/u1", body={"push_tokens": ["phone"]})
    nid = (await app.publish(body))["notifications"][0]["id"]
    [delivery] = (await app.settled(nid))["deliveries"]
    if reached:  # the control: the name really leads to the fake
        assert delivery["status"] == "sent" and received() > 0
        return
    assert delivery["status"] == "dead"
    assert received() == 0
    assert all("127.0.0.1 is loopback" in a["error"] for a in delivery["attempts"]), delivery["attempts"]


async def test_a_web_push_endpoint_inside_is_refused_even_under_the_operators_provider(
    start_app: StartApp, fake_push_service: FakePushService
) -> None:
    from alertflow_webpush import generate_vapid_keys

    private, _ = generate_vapid_keys()
    webpush = {"type": "webpush", "vapid_private_key": private, "vapid_subject": "mailto:ops@alertflow.test"}
    # Subscriptions are the tenant's data, whoever set the provider up. The endpoint's name
    # was public when the user was stored (refused then otherwise) and leads inside now.
    dns = FakeDns()
    dns.records["push.example"] = PUBLIC_IP
    app = await start_app(security=CLOSED, queue=FAST, providers={"push": webpush}, resolve=dns)
    subscription = fake_push_service.subscribe().info
    endpoint = subscription["endpoint"].replace("http://127.0.0.1", "https://push.example", 1)
    resp = await app.call("PUT", "/v1/users/u1", body={"webpush": [{**subscription, "endpoint": endpoint}]})
    assert resp.status == 200, await resp.text()
    dns.records["push.example"] = "127.0.0.1"
    nid = (await app.publish(PUSH))["notifications"][0]["id"]
    [delivery] = (await app.settled(nid))["deliveries"]
    assert delivery["status"] == "dead" and fake_push_service.deliveries == []
    assert "127.0.0.1 is loopback" in delivery["attempts"][-1]["error"]


async def test_the_operators_own_providers_may_reach_inside(start_app: StartApp, fake_smtp: FakeSmtpServer) -> None:
    relay = {"type": "smtp", "host": "localhost", "port": fake_smtp.port, "security": "none"}
    app = await start_app(security=CLOSED, providers={"email": {**relay, "from_address": "alerts@alertflow.test"}})
    nid = (await app.publish(MAIL))["notifications"][0]["id"]
    assert (await app.settled(nid))["deliveries"][0]["status"] == "sent"
    assert len(fake_smtp.messages) == 1
    tenant_own = await set_channel(app, "email", smtp("localhost", fake_smtp.port))
    assert tenant_own.status == 422, "the same relay set by a tenant is refused"


# -- redirects, and what a target's answer can carry back


@pytest.fixture
async def internal_service() -> Any:
    """A second machine inside (127.0.0.2), which tenants must never reach."""
    async with HttpPeer(host="127.0.0.2") as peer:
        yield peer


@pytest.mark.parametrize("kind", ["webhook", "twilio"])
async def test_a_redirect_to_an_address_inside_is_not_followed(
    start_app: StartApp, internal_service: HttpPeer, kind: str
) -> None:
    channel, fake_type, aimed_at, body, received = REBOUND[kind]
    async with fake_type() as fake:
        await _redirected(start_app, internal_service, channel, fake, aimed_at, body, received)


async def _redirected(
    start_app: StartApp,
    internal_service: HttpPeer,
    channel: str,
    fake: Any,
    aimed_at: Callable[[Any, str], dict[str, Any]],
    body: dict[str, Any],
    received: Callable[[Any], int],
) -> None:
    # Only the target itself is opened; the redirect leads elsewhere inside.
    app = await start_app(security={"allowed_private_networks": ["127.0.0.1/32"]})
    await app.call("PUT", "/v1/users/u1", body={})
    assert (await set_channel(app, channel, aimed_at(fake, "127.0.0.1"))).status == 200
    fake.script(Reply(307, headers={"Location": internal_service.url("/admin")}))
    nid = (await app.publish(body))["notifications"][0]["id"]
    [delivery] = (await app.settled(nid))["deliveries"]
    assert delivery["status"] == "failed" and "307" in delivery["reason"]
    assert received(fake) == 1 and internal_service.requests == []


async def test_a_push_service_redirecting_inside_gets_its_hop_refused(
    start_app: StartApp, fake_push_service: FakePushService, internal_service: HttpPeer
) -> None:
    from alertflow_webpush import generate_vapid_keys

    # pywebpush follows redirects itself; every hop's connection is checked all the same.
    private, _ = generate_vapid_keys()
    config = {"vapid_private_key": private, "vapid_subject": "mailto:ops@alertflow.test"}
    app = await start_app(security={"allowed_private_networks": ["127.0.0.1/32"]}, queue=FAST)
    assert (await set_channel(app, "push", {"type": "webpush", "config": config})).status == 200
    await app.call("PUT", "/v1/users/u1", body={"webpush": [fake_push_service.subscribe().info]})
    fake_push_service.script(*[Reply(307, headers={"Location": internal_service.url("/admin")})] * 2)
    nid = (await app.publish(PUSH))["notifications"][0]["id"]
    [delivery] = (await app.settled(nid))["deliveries"]
    assert delivery["status"] == "dead" and internal_service.requests == []
    assert "127.0.0.2 is loopback" in delivery["attempts"][-1]["error"]


async def test_the_sync_clients_session_follows_no_redirect_and_connects_only_where_allowed(
    internal_service: HttpPeer, webhook_receiver: WebhookReceiver
) -> None:
    # requests blocks: run it off the loop the fakes answer on.
    closed = guarded_session(OutboundGuard())
    with pytest.raises(requests.ConnectionError, match=r"127\.0\.0\.2 is loopback"):
        await asyncio.to_thread(closed.get, internal_service.url("/admin"), timeout=5)
    opened = guarded_session(OutboundGuard(allowed=parse_networks(["127.0.0.1/32"])))
    webhook_receiver.script(Reply(302, headers={"Location": internal_service.url("/admin")}))
    answer = await asyncio.to_thread(opened.post, webhook_receiver.url(PATH), data=b"{}", timeout=5)
    assert answer.status_code == 302 and len(webhook_receiver.requests) == 1
    assert internal_service.requests == []


async def test_a_targets_long_answer_is_cut_before_any_member_reads_it(
    start_app: StartApp, webhook_receiver: WebhookReceiver, fake_twilio: FakeTwilio
) -> None:
    app = await start_app()
    leak = "internal-secret " * 640  # 10 KB of whatever the target had to say
    await set_channel(app, "webhook", webhook(webhook_receiver.url(PATH)))
    await set_channel(app, "sms", twilio(fake_twilio.url()))
    await app.call("PUT", "/v1/users/u1", body={})
    webhook_receiver.script(Reply(400, text=leak))
    fake_twilio.script(Reply(400, json={"code": 21211, "message": leak, "status": 400}))
    for body in (HOOK, SMS):
        nid = (await app.publish(body))["notifications"][0]["id"]
        [delivery] = (await app.settled(nid, ("failed",)))["deliveries"]
        assert len(delivery["reason"]) <= MAX_ERROR_CHARS and "internal-secret" in delivery["reason"]
        assert all(len(a["error"] or "") <= MAX_ERROR_CHARS for a in delivery["attempts"])


async def test_credentials_in_a_url_are_write_only_masked_and_never_logged(
    app: Harness, webhook_receiver: WebhookReceiver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    password, key = "pw-9c1e-never-leak", "key-4b7a-never-leak"
    url = renamed(webhook_receiver.url(PATH), f"hook-user:{password}@127.0.0.1") + f"?api_key={key}&v=2"
    webhook_receiver.script(Reply(503, text="busy"), path=PATH)
    await app.call("PUT", "/v1/users/u1", body={})
    with caplog.at_level(logging.DEBUG):
        put = await set_channel(app, "webhook", webhook(url))
        got = await app.call("GET", "/v1/channels/webhook", "member")
        listing = await app.call("GET", "/v1/providers", "member")
        nid = (await app.publish(HOOK))["notifications"][0]["id"]
        done = await app.settled(nid)
    assert done["deliveries"][0]["status"] == "sent", "the sealed URL still works"
    shown = (await got.json())["providers"][0]["config"]["url"]
    assert shown == f"http://********@127.0.0.1:{webhook_receiver.port}{PATH}?api_key=********&v=********"
    for resp in (put, got, listing):
        text = await resp.text()
        assert password not in text and key not in text
    for path in (tmp_path / "data").rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes() and key.encode() not in path.read_bytes(), path
    assert password not in caplog.text and key not in caplog.text
    arrived = webhook_receiver.requests[-1]
    assert arrived.query_string == f"api_key={key}&v=2" and arrived.headers["Authorization"].startswith("Basic ")


async def test_the_guarded_session_refuses_an_address_literal_before_connecting(
    webhook_receiver: WebhookReceiver,
) -> None:
    # aiohttp skips its resolver for literals: only the per-connection check stops these.
    async with OutboundGuard().session() as session:
        for host in ("127.0.0.1", "[::ffff:127.0.0.1]"):
            url = renamed(webhook_receiver.url(PATH), host)
            with pytest.raises(aiohttp.ClientConnectorError, match=r"127\.0\.0\.1 is loopback"):
                await session.post(url, data=b"{}")
    assert webhook_receiver.requests == []


async def test_a_user_carries_at_most_fifty_web_push_subscriptions_each_checked(start_app: StartApp) -> None:
    app = await start_app(security=CLOSED)
    public = [f"https://{PUBLIC_IP}/push/{i}" for i in range(50)]
    assert (await put_webpush(app, *public)).status == 200
    too_many = await put_webpush(app, *public, f"https://{PUBLIC_IP}/push/50")
    assert too_many.status == 422 and [e["field"] for e in (await too_many.json())["errors"]] == ["webpush"]
    last_inside = await put_webpush(app, *public[:49], "https://10.0.0.1/push/x")
    assert [e["field"] for e in (await last_inside.json())["errors"]] == ["webpush.49.endpoint"]
