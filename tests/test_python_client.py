"""clients/python (alertflow-client) against a real ``alertflow serve``: the sync and the
async client publish, read, page and fail as the contract says; a publish whose answer is
lost is retried under one Idempotency-Key and sends once; status webhooks verify."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from alertflow_client import (
    AlertFlow,
    AsyncAlertFlow,
    NotFound,
    Unauthorized,
    ValidationFailed,
    WebhookVerificationError,
    verify_webhook,
)
from alertflow_client.webhooks import sign

from tests.process import Server

EMAIL = {"email": {"subject": "Hi {{ name }}", "text": "Hello {{ name }}"}}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("client") / "server").start()
    yield running
    running.stop()


@pytest.fixture
def client(server: Server) -> Iterator[AlertFlow]:
    with AlertFlow(server.url, server.api_key) as blocking:
        yield blocking


def test_the_readme_example_publishes_and_the_notification_is_sent(client: AlertFlow) -> None:
    answer = client.publish({"email": "ann@example.com"}, content=EMAIL, data={"name": "Ann"})

    (published,) = answer.notifications
    assert published.status == "queued" and published.recipient == {"email": "ann@example.com"}
    assert until(lambda: client.notification(published.id).status == "sent")
    (delivery,) = client.notification(published.id).deliveries
    assert delivery.channel == "email" and delivery.attempts[0].outcome


def test_invalid_fields_raise_a_typed_error_naming_them(client: AlertFlow) -> None:
    with pytest.raises(ValidationFailed) as raised:
        client.publish({"email": "not an address"}, content=EMAIL, data={"name": "x"})

    assert raised.value.status == 422 and raised.value.code == "validation"
    assert [e.field for e in raised.value.errors] == ["to.0.email"]  # one recipient is a list of one


def test_a_wrong_key_and_an_unknown_id_raise_their_own_errors(server: Server, client: AlertFlow) -> None:
    with AlertFlow(server.url, "af_wrong") as stranger, pytest.raises(Unauthorized):
        stranger.notification("anything")
    with pytest.raises(NotFound):
        client.notification("ntf_00000000000000000000000000")


def test_iterating_follows_the_cursor_over_every_page(client: AlertFlow) -> None:
    user = f"pager-{time.monotonic_ns()}"
    client.put_user(user, email=f"{user}@example.com")
    sent = {
        client.publish({"user_id": user}, content=EMAIL, data={"name": str(i)}).notifications[0].id for i in range(5)
    }

    first = client.notifications(user_id=user, limit=2)
    seen = [n.id for n in client.iter_notifications(user_id=user, limit=2)]

    assert len(first.items) == 2 and first.next_cursor
    assert sorted(seen) == sorted(sent) and len(seen) == 5


def test_the_inbox_token_opens_the_websocket_url(client: AlertFlow) -> None:
    client.put_user("inboxer", email="inboxer@example.com")
    client.publish({"user_id": "inboxer"}, content={"inapp": {"title": "T", "body": "B"}})

    token = client.inbox_token("inboxer")
    assert until(lambda: [i.title for i in client.inbox("inboxer").items] == ["T"])

    url = client.inbox_ws_url(token.token)
    assert url.startswith("ws://127.0.0.1:") and url.endswith("/v1/inbox/ws?token=" + token.token)


class LosesFirstAnswer(httpx.AsyncBaseTransport):
    """Forwards every request to the real server, then drops the first publish's answer, as
    a network cut after the server committed would."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.keys: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        if request.url.path.endswith("/publish"):
            self.keys.append(request.headers["Idempotency-Key"])
            if len(self.keys) == 1:
                await response.aread()
                raise httpx.ReadError("connection reset after the server answered", request=request)
        return response


async def test_a_publish_whose_answer_is_lost_is_retried_once_and_sends_once(server: Server) -> None:
    transport = LosesFirstAnswer()
    address = f"retried-{time.monotonic_ns()}@example.com"
    async with AsyncAlertFlow(server.url, server.api_key, transport=transport) as client:
        answer = await client.publish({"email": address}, content=EMAIL, data={"name": "R"})
        listed = [n async for n in client.iter_notifications(limit=100) if n.recipient.get("email") == address]

    assert len(transport.keys) == 2 and transport.keys[0] == transport.keys[1]
    assert [n.id for n in listed] == [answer.notifications[0].id]


async def test_without_retries_the_lost_answer_is_the_callers_error(server: Server) -> None:
    async with AsyncAlertFlow(server.url, server.api_key, transport=LosesFirstAnswer(), retries=0) as client:
        with pytest.raises(httpx.ReadError):
            await client.publish({"email": "once@example.com"}, content=EMAIL, data={"name": "O"})


SECRET = "whsec_" + base64.b64encode(b"a secret of twenty-four!").decode()


def signed(body: bytes, at: float, secret: str = SECRET) -> dict[str, str]:
    return {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(int(at)),
        "webhook-signature": sign(secret, "msg_1", int(at), body),
    }


def test_a_status_webhook_signed_with_the_secret_verifies() -> None:
    body = json.dumps({"type": "delivery.sent", "timestamp": "2026-12-01T00:00:00Z", "data": {}}).encode()
    assert verify_webhook(SECRET, body, signed(body, time.time()))["type"] == "delivery.sent"


def test_the_standard_webhooks_library_agrees_with_our_signature() -> None:
    standardwebhooks = pytest.importorskip("standardwebhooks.webhooks")
    body = b'{"type":"delivery.sent"}'
    standardwebhooks.Webhook(SECRET).verify(body, signed(body, time.time()))


@pytest.mark.parametrize(
    "change",
    ["tampered body", "other secret", "an hour old", "no signature"],
)
def test_a_tampered_replayed_or_unsigned_webhook_is_refused(change: str) -> None:
    body, now = b'{"type":"delivery.sent"}', time.time()
    headers = signed(body, now)
    if change == "tampered body":
        body = b'{"type":"delivery.dead"}'
    elif change == "other secret":
        headers = signed(body, now, "whsec_" + base64.b64encode(b"another secret entirely!").decode())
    elif change == "an hour old":
        headers = signed(body, now - 3600)
    else:
        del headers["webhook-signature"]
    with pytest.raises(WebhookVerificationError):
        verify_webhook(SECRET, body, headers)


def until(predicate: Callable[[], bool], attempts: int = 2400) -> bool:
    """Poll another process (the only way to watch it): 2,400 × 50 ms, a generous ceiling."""
    for _ in range(attempts):
        if predicate():
            return True
        time.sleep(0.05)
    return False
