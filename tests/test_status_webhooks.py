"""Status webhooks (#17): a tenant's endpoint hears of deliveries, batches and inbox reads,
signed per Standard Webhooks. The receiver is a real aiohttp server on 127.0.0.1 that
verifies every request it gets with the specification's own ``standardwebhooks`` package,
unchanged; a request that does not verify is kept apart and fails the test."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from alertflow.message import STATUS_CHANNEL
from alertflow.timefmt import iso
from tests.conftest import EMAIL, Harness, Script, StartApp
from tests.fakes.dns import FakeDns
from tests.inbox_support import add_user, deliver
from tests.process import WAIT_SECONDS, Server

FAST_RETRIES = {"backoff_base_seconds": 0.05, "backoff_max_seconds": 0.4}
ALL_EVENTS = [
    "delivery.sent",
    "delivery.delivered",
    "delivery.failed",
    "delivery.dead",
    "delivery.suppressed",
    "batch.completed",
    "inbox.read",
]


@dataclass
class Received:
    """One request as it came: what a receiver verifies."""

    body: bytes
    headers: dict[str, str]

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)  # type: ignore[no-any-return]


@dataclass
class Receiver:
    """A tenant's endpoint: verifies each request with ``standardwebhooks`` under ``secrets``
    (any of them), answers with the next of ``replies`` (then 200)."""

    url: str = ""
    secrets: list[str] = field(default_factory=list)
    replies: list[int] = field(default_factory=list)
    verified: list[Received] = field(default_factory=list)
    refused: list[tuple[Received, str]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        got = Received(await request.read(), dict(request.headers))
        errors = []
        for secret in self.secrets:
            try:
                Webhook(secret).verify(got.body, got.headers)
                break
            except WebhookVerificationError as exc:
                errors.append(str(exc))
        else:
            self.refused.append((got, "; ".join(errors) or "no secret"))
            self.arrived.set()
            return web.Response(status=401)
        status = self.replies.pop(0) if self.replies else 200
        if 200 <= status < 300:
            self.verified.append(got)
        self.arrived.set()
        return web.Response(status=status)

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        return [r.event for r in self.verified if event_type is None or r.event["type"] == event_type]

    async def wait(self, check: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT_SECONDS):
            while not check():
                self.arrived.clear()
                if self.refused:
                    break
                await self.arrived.wait()
        assert not self.refused, f"a request did not verify: {self.refused[0][1]}"


@pytest.fixture
async def receiver(aiohttp_server: Any) -> AsyncIterator[Receiver]:
    r = Receiver()
    app = web.Application()
    app.router.add_post("/hook", r.handle)
    server = await aiohttp_server(app)
    r.url = str(server.make_url("/hook"))
    yield r
    assert not r.refused, f"a request did not verify: {r.refused[0][1]}"


async def subscribe(app: Harness, receiver: Receiver, events: list[str] = ALL_EVENTS, role: str = "admin") -> str:
    resp = await app.call("POST", "/v1/webhooks", role, {"url": receiver.url, "events": events})
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    assert created["secret"].startswith("whsec_")
    receiver.secrets.append(created["secret"])
    return created["id"]  # type: ignore[no-any-return]


async def webhook(app: Harness, webhook_id: str) -> dict[str, Any]:
    resp = await app.call("GET", f"/v1/webhooks/{webhook_id}", "admin")
    assert resp.status == 200, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


async def attempts(app: Harness, webhook_id: str) -> list[dict[str, Any]]:
    resp = await app.call("GET", f"/v1/webhooks/{webhook_id}/deliveries", "admin")
    assert resp.status == 200, await resp.text()
    return (await resp.json())["items"]  # type: ignore[no-any-return]


async def status_decided(app: Harness, status: str, count: int = 1) -> None:
    """Wait until ``count`` status events' deliveries reached ``status`` (their attempt recorded)."""
    await app.until(lambda: sum(j.channel == "status" and d.status == status for j, d in app.decisions) >= count)


def delivery_in(notification: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """The delivery as the notification's page shows it, but for what was sent (``rendered``),
    which status events leave out."""
    [found] = [d for d in notification["deliveries"] if d["id"] == event["data"]["id"]]
    assert "rendered" not in event["data"], "a status event does not carry the message"
    return {k: v for k, v in found.items() if k != "rendered"}


async def test_every_event_type_arrives_signed_with_the_object_as_the_api_shows_it(
    start_app: StartApp, receiver: Receiver, script: Script
) -> None:
    script.set(fail="retry")
    app = await start_app(queue={**FAST_RETRIES, "max_attempts": 1}, providers={"sms": script.provider()})
    await subscribe(app, receiver)

    sent = (await app.publish({"to": {"email": "ann@example.com"}, "content": EMAIL}))["notifications"][0]["id"]
    suppressed = (await app.publish({"to": {"phone": "+15550100"}, "content": EMAIL}))["notifications"][0]["id"]
    failed = await app.publish({"to": {"email": "a@example.com"}, "content": {"webhook": {"body": {"x": 1}}}})
    dead = await app.publish({"to": {"phone": "+15550101"}, "content": {"sms": {"body": "hi"}}})
    await add_user(app, "u1")
    item_id = await deliver(app, "u1")
    assert (await app.call("POST", f"/v1/users/u1/inbox/{item_id}/read", "member")).status == 200
    bulk = await app.call(
        "POST", "/v1/notifications/bulk", "owner", {"to": [{"email": "b@example.com"}], "content": EMAIL}
    )
    batch_id = (await bulk.json())["batch_id"]

    # Three sends: the email, the in-app message and the bulk's email.
    await receiver.wait(
        lambda: {e["type"] for e in receiver.events()} >= set(ALL_EVENTS) and len(receiver.events("delivery.sent")) >= 3
    )
    for event in receiver.events():
        assert set(event) == {"type", "timestamp", "data"}
    by_notification = {
        e["data"].get("notification_id"): e for e in receiver.events() if e["type"].startswith("delivery.")
    }
    for nid, status in (
        (sent, "sent"),
        (suppressed, "suppressed"),
        (failed["notifications"][0]["id"], "failed"),
        (dead["notifications"][0]["id"], "dead"),
    ):
        event = by_notification[nid]
        assert event["type"] == f"delivery.{status}"
        shown = delivery_in(await app.notification(nid), event)
        assert {k: event["data"][k] for k in shown} == shown, "the same shape and values as GET shows"
    delivered = receiver.events("delivery.delivered")[0]["data"]
    assert delivered["channel"] == "inapp" and delivered["status"] == "delivered"
    [read] = receiver.events("inbox.read")
    assert read["data"]["id"] == item_id and read["data"]["user_id"] == "u1" and read["data"]["read_at"]
    [completed] = receiver.events("batch.completed")
    shown_batch = await (await app.call("GET", f"/v1/batches/{batch_id}")).json()
    assert completed["data"] == shown_batch and shown_batch["status"] == "completed"
    # Each event once: none reported twice, and the status events' own deliveries report nothing.
    ids = [r.headers["webhook-id"] for r in receiver.verified]
    assert len(ids) == len(set(ids))
    assert len(receiver.events("delivery.sent")) == 3


async def test_a_tampered_secret_or_body_fails_verification(start_app: StartApp, receiver: Receiver) -> None:
    """The test of the test: the receiver's check is a real one."""
    app = await start_app()
    webhook_id = await subscribe(app, receiver, ["delivery.sent"])
    resp = await app.call("POST", f"/v1/webhooks/{webhook_id}/test", "admin")
    assert (await resp.json())["delivered"] is True
    [got] = receiver.verified
    assert got.event["type"] == "webhook.test"
    secret = receiver.secrets[0]
    assert Webhook(secret).verify(got.body, got.headers) == got.event
    other = "whsec_" + secret[6:][::-1]
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(got.body.replace(b"webhook.test", b"webhook.tesx"), got.headers)


async def test_a_failing_endpoint_is_retried_with_backoff_until_it_answers(
    start_app: StartApp, receiver: Receiver
) -> None:
    app = await start_app(queue=FAST_RETRIES)
    webhook_id = await subscribe(app, receiver, ["delivery.sent"])
    receiver.replies = [500, 503]
    await app.publish({"to": {"email": "ann@example.com"}, "content": EMAIL})
    await receiver.wait(lambda: len(receiver.verified) == 1)
    await status_decided(app, "sent")
    tries = await attempts(app, webhook_id)
    assert [t["status_code"] for t in tries] == [200, 503, 500], "newest first"
    assert [t["error"] for t in tries] == [None, "HTTP 503", "HTTP 500"]
    assert all(t["latency_ms"] >= 0 and t["event_type"] == "delivery.sent" for t in tries)
    assert len({t["event_id"] for t in tries}) == 1, "one event, tried three times"
    assert receiver.verified[0].headers["webhook-id"] == tries[0]["event_id"]
    retries = [(j, d) for j, d in app.decisions if j.channel == "status" and d.status == "queued"]
    assert len(retries) == 2
    for (_, decision), later in zip(retries, tries[1::-1], strict=True):
        assert decision.retry_at is not None
        assert later["at"] >= (iso(decision.retry_at - 0.01) or ""), "tried again before its backoff ended"
    assert (await webhook(app, webhook_id))["disabled"] is False


async def test_an_endpoint_that_never_answers_goes_dead_to_the_dlq(start_app: StartApp, receiver: Receiver) -> None:
    app = await start_app(queue={**FAST_RETRIES, "max_attempts": 2})
    webhook_id = await subscribe(app, receiver, ["delivery.sent"])
    receiver.replies = [500] * 10
    await app.publish({"to": {"email": "ann@example.com"}, "content": EMAIL})
    await status_decided(app, "dead")
    dlq = (await (await app.call("GET", "/v1/dlq")).json())["items"]
    assert [(d["channel"], d["attempts"]) for d in dlq] == [("status", 2)]
    assert len(await attempts(app, webhook_id)) == 2

    receiver.replies = []  # the receiver recovers: a replay sends the same event
    assert (await app.call("POST", f"/v1/dlq/{dlq[0]['delivery_id']}/replay", "admin")).status == 202
    await receiver.wait(lambda: len(receiver.verified) == 1)
    assert receiver.events() == [receiver.verified[0].event] and receiver.events()[0]["type"] == "delivery.sent"


async def test_an_endpoint_failing_for_the_configured_time_is_disabled_until_enabled_again(
    start_app: StartApp, receiver: Receiver
) -> None:
    # 36 ms of failing: reached between the first failure and a later one.
    app = await start_app(queue={**FAST_RETRIES, "max_attempts": 10}, webhooks={"disable_after_hours": 0.00001})
    webhook_id = await subscribe(app, receiver, ["delivery.sent"])
    receiver.replies = [500] * 100
    await app.publish({"to": {"email": "ann@example.com"}, "content": EMAIL})
    await status_decided(app, "failed")
    shown = await webhook(app, webhook_id)
    assert shown["disabled"] is True and shown["disabled_reason"] == "disabled after failing: HTTP 500"
    tried = len(await attempts(app, webhook_id))
    assert tried >= 2

    receiver.replies = []
    nid = (await app.publish({"to": {"email": "bob@example.com"}, "content": EMAIL}))["notifications"][0]["id"]
    await app.settled(nid)
    assert len(await attempts(app, webhook_id)) == tried, "a disabled endpoint gets nothing"

    resp = await app.call("PATCH", f"/v1/webhooks/{webhook_id}", "admin", {"enabled": True})
    assert (await resp.json())["disabled"] is False
    await app.publish({"to": {"email": "cy@example.com"}, "content": EMAIL})
    await receiver.wait(lambda: len(receiver.verified) == 1)


async def test_an_endpoint_answering_410_gone_is_disabled_at_once(start_app: StartApp, receiver: Receiver) -> None:
    app = await start_app(queue=FAST_RETRIES)
    webhook_id = await subscribe(app, receiver, ["delivery.sent"])
    receiver.replies = [410]
    await app.publish({"to": {"email": "ann@example.com"}, "content": EMAIL})
    await status_decided(app, "failed")
    shown = await webhook(app, webhook_id)
    assert shown["disabled"] is True
    assert shown["disabled_reason"] == "disabled after failing: HTTP 410: the endpoint is gone"
    assert [a["status_code"] for a in await attempts(app, webhook_id)] == [410], "not tried again"


async def test_a_private_address_is_refused_when_set_and_when_sending(start_app: StartApp, receiver: Receiver) -> None:
    dns = FakeDns()
    app = await start_app(resolve=dns, security={"allowed_private_networks": []})
    resp = await app.call("POST", "/v1/webhooks", "admin", {"url": receiver.url, "events": ["delivery.sent"]})
    assert resp.status == 422
    assert (await resp.json())["errors"][0]["field"] == "url"

    dns.records["hooks.example"] = "93.184.215.14"  # public when set ...
    port = receiver.url.split(":")[2].split("/")[0]
    resp = await app.call(
        "POST", "/v1/webhooks", "admin", {"url": f"http://hooks.example:{port}/hook", "events": ["delivery.sent"]}
    )
    assert resp.status == 201, await resp.text()
    webhook_id = (await resp.json())["id"]
    dns.records["hooks.example"] = "127.0.0.1"  # ... re-pointed inside before the send
    await app.publish({"to": {"email": "ann@example.com"}, "content": EMAIL})
    await status_decided(app, "failed")
    [tried] = await attempts(app, webhook_id)
    assert tried["status_code"] is None and "refused" in tried["error"]
    assert receiver.verified == [] and receiver.refused == []
    assert (await webhook(app, webhook_id))["disabled"] is True, "no later try could succeed"


async def test_only_admins_and_owners_manage_webhooks(start_app: StartApp, receiver: Receiver) -> None:
    app = await start_app()
    body = {"url": receiver.url, "events": ["delivery.sent"]}
    assert (await app.call("POST", "/v1/webhooks", "member", body)).status == 403
    webhook_id = await subscribe(app, receiver, role="owner")
    for method, path in (
        ("GET", "/v1/webhooks"),
        ("GET", f"/v1/webhooks/{webhook_id}"),
        ("PATCH", f"/v1/webhooks/{webhook_id}"),
        ("DELETE", f"/v1/webhooks/{webhook_id}"),
        ("POST", f"/v1/webhooks/{webhook_id}/rotate-secret"),
        ("POST", f"/v1/webhooks/{webhook_id}/test"),
        ("GET", f"/v1/webhooks/{webhook_id}/deliveries"),
    ):
        assert (await app.call(method, path, "member", {} if method == "PATCH" else None)).status == 403, path
    listed = (await (await app.call("GET", "/v1/webhooks", "admin")).json())["items"]
    assert [w["id"] for w in listed] == [webhook_id]
    assert "secret" not in listed[0] and receiver.secrets[0] not in json.dumps(listed)
    assert (await app.call("DELETE", f"/v1/webhooks/{webhook_id}", "admin")).status == 204
    assert (await app.call("GET", f"/v1/webhooks/{webhook_id}", "admin")).status == 404


async def test_bad_fields_are_refused_naming_them(start_app: StartApp, receiver: Receiver) -> None:
    app = await start_app()
    for body, where in (
        ({"url": "ftp://example.com/x", "events": ["delivery.sent"]}, "url"),
        ({"url": receiver.url, "events": ["delivery.lost"]}, "events.0"),
        ({"url": receiver.url, "events": []}, "events"),
        ({"url": receiver.url, "events": ["delivery.sent"], "secret": "whsec_x"}, "secret"),
    ):
        resp = await app.call("POST", "/v1/webhooks", "admin", body)
        assert resp.status == 422, body
        assert [e["field"] for e in (await resp.json())["errors"]] == [where]
    assert (await (await app.call("GET", "/v1/webhooks", "admin")).json())["items"] == []


async def test_rotating_the_secret_signs_with_both_during_the_rollover(start_app: StartApp, receiver: Receiver) -> None:
    app = await start_app()
    webhook_id = await subscribe(app, receiver, ["delivery.sent"])
    old = receiver.secrets[0]
    resp = await app.call("POST", f"/v1/webhooks/{webhook_id}/rotate-secret", "admin")
    rotated = await resp.json()
    new = rotated["secret"]
    assert new != old and rotated["previous_secret_valid_until"]
    assert (await webhook(app, webhook_id))["previous_secret_valid_until"] == rotated["previous_secret_valid_until"]
    for secret in (old, new):  # a receiver holding either one verifies
        receiver.secrets = [secret]
        assert (await (await app.call("POST", f"/v1/webhooks/{webhook_id}/test", "admin")).json())["delivered"]
    assert len(receiver.verified) == 2


async def test_after_the_rollover_only_the_new_secret_verifies(start_app: StartApp, receiver: Receiver) -> None:
    app = await start_app(webhooks={"secret_rollover_hours": 0})
    webhook_id = await subscribe(app, receiver, ["delivery.sent"])
    old = receiver.secrets[0]
    new = (await (await app.call("POST", f"/v1/webhooks/{webhook_id}/rotate-secret", "admin")).json())["secret"]
    receiver.secrets = [new]
    assert (await (await app.call("POST", f"/v1/webhooks/{webhook_id}/test", "admin")).json())["delivered"]
    with pytest.raises(WebhookVerificationError):
        Webhook(old).verify(receiver.verified[0].body, receiver.verified[0].headers)


async def test_the_test_route_answers_with_the_attempts_outcome(start_app: StartApp, receiver: Receiver) -> None:
    app = await start_app()
    webhook_id = await subscribe(app, receiver, ["inbox.read"])
    receiver.replies = [502]
    failed = await (await app.call("POST", f"/v1/webhooks/{webhook_id}/test", "admin")).json()
    assert failed["delivered"] is False and failed["status_code"] == 502 and failed["error"] == "HTTP 502"
    ok = await (await app.call("POST", f"/v1/webhooks/{webhook_id}/test", "admin")).json()
    assert ok["delivered"] is True and ok["status_code"] == 200 and ok["error"] is None
    [event] = receiver.events()
    assert (event["type"], event["data"]) == ("webhook.test", {"webhook_id": webhook_id})
    assert [a["event_id"] for a in await attempts(app, webhook_id)] == [ok["event_id"], failed["event_id"]]


async def test_a_tenant_without_webhooks_queues_no_status_events(start_app: StartApp) -> None:
    app = await start_app()
    nid = (await app.publish({"to": {"email": "ann@example.com"}, "content": EMAIL}))["notifications"][0]["id"]
    await app.settled(nid)
    assert (await app.rows("SELECT COUNT(*) AS n FROM deliveries WHERE channel = 'status'"))[0]["n"] == 0


async def test_an_event_survives_kill_9_before_it_is_sent(tmp_path: Path, aiohttp_server: Any) -> None:
    """The state change commits with its event; the receiver is down, the server is killed,
    and after a restart the event arrives, verified."""
    receiver = Receiver()
    # The receiver's port, held (bound, not listening: connections are refused) until it starts.
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    config = (
        '[security]\nallowed_private_networks = ["127.0.0.0/8"]\n'
        "[queue]\nbackoff_base_seconds = 0.2\nbackoff_max_seconds = 0.5\nmax_attempts = 50\n"
    )
    server = await asyncio.to_thread(lambda: Server(tmp_path / "srv", config).start())
    try:
        url = f"http://127.0.0.1:{port}/hook"
        resp = await asyncio.to_thread(
            server.request, "POST", "/v1/webhooks", {"url": url, "events": ["delivery.sent"]}
        )
        assert resp.status_code == 201, resp.text
        webhook_id = resp.json()["id"]
        receiver.secrets.append(resp.json()["secret"])
        published = await asyncio.to_thread(
            server.request, "POST", "/v1/notifications/publish", {"to": {"email": "a@example.com"}, "content": EMAIL}
        )
        nid = published.json()["notifications"][0]["id"]

        def refused_once() -> bool:
            return bool(server.request("GET", f"/v1/webhooks/{webhook_id}/deliveries").json()["items"])

        assert await asyncio.to_thread(server.wait_for, refused_once), "the receiver was down: a failed attempt"
        await asyncio.to_thread(server.kill)

        app = web.Application()
        app.router.add_post("/hook", receiver.handle)
        holder.close()
        await aiohttp_server(app, port=port)
        await asyncio.to_thread(server.start)
        try:
            await receiver.wait(lambda: len(receiver.verified) == 1)
        except (AssertionError, TimeoutError) as exc:
            raise AssertionError(f"{exc!r}; server log: {server.logs()[-3000:]}") from exc
        event = receiver.verified[0].event
        assert event["type"] == "delivery.sent" and event["data"]["notification_id"] == nid
    finally:
        holder.close()
        server.stop()


def no_status_events_left(app: Harness) -> Callable[[], Awaitable[bool]]:
    async def none_left() -> bool:
        return (await app.rows("SELECT COUNT(*) AS n FROM jobs WHERE channel = ?", (STATUS_CHANNEL,)))[0]["n"] == 0

    return none_left


async def test_a_read_all_reports_each_item_read_and_an_idempotent_repeat_reports_nothing_again(
    start_app: StartApp, receiver: Receiver
) -> None:
    app = await start_app()
    await subscribe(app, receiver, ["inbox.read", "delivery.suppressed"])
    await add_user(app, "u1")
    first, second = await deliver(app, "u1", "one"), await deliver(app, "u1", "two")
    assert (await app.call("POST", "/v1/users/u1/inbox/read-all", "member")).status == 200
    body = {"to": {"phone": "+15550100"}, "content": EMAIL}
    nids = set()
    for _ in range(2):  # the repeat answers from the first request: nothing changes, nothing is reported
        nids.add((await app.publish(body, headers={"Idempotency-Key": "once"}))["notifications"][0]["id"])
    # Every event was queued when its request was answered, and several go out at once, in any
    # order: once none is left to send, a repeat's event (there must be none) would be in too.
    await app.until(no_status_events_left(app))
    await receiver.wait(lambda: len(receiver.events("inbox.read")) == 2)
    assert sorted(e["data"]["id"] for e in receiver.events("inbox.read")) == sorted([first, second])
    [suppressed] = [e for e in receiver.events("delivery.suppressed") if e["data"]["notification_id"] in nids]
    assert suppressed["data"]["status"] == "suppressed" and suppressed["data"]["reason"]


async def test_attempts_are_listed_a_page_at_a_time(start_app: StartApp, receiver: Receiver) -> None:
    app = await start_app()
    webhook_id = await subscribe(app, receiver, ["delivery.sent"])
    sent = [(await (await app.call("POST", f"/v1/webhooks/{webhook_id}/test", "admin")).json()) for _ in range(3)]
    seen, cursor = [], None
    while True:
        query = f"?limit=2&cursor={cursor}" if cursor else "?limit=2"
        page = await (await app.call("GET", f"/v1/webhooks/{webhook_id}/deliveries{query}", "admin")).json()
        seen += [a["event_id"] for a in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [s["event_id"] for s in reversed(sent)]
    bad = await app.call("GET", f"/v1/webhooks/{webhook_id}/deliveries?cursor=x", "admin")
    assert bad.status == 422 and (await bad.json())["errors"][0]["field"] == "cursor"
