"""The webhook provider against a receiver that verifies the documented signature."""

from __future__ import annotations

import time
from typing import Any

import pytest
from alertflow_provider_kit import MAX_TIMEOUT_SECONDS
from alertflow_webhook import WebhookProvider, signature
from pydantic import ValidationError

from alertflow.outcomes import PermanentFailure, RateLimited, RetryLater, Sent
from tests.fakes.http import Reply, closed_port_url
from tests.fakes.webhook import PATH, SECRET, WebhookReceiver

from .context import provider_context
from .messages import message


def webhook(receiver: WebhookReceiver, http: Any, **overrides: Any) -> WebhookProvider:
    values = {"url": receiver.url(PATH), "secret": SECRET, "timeout_seconds": 5, **overrides}
    return WebhookProvider(WebhookProvider.Settings(**values), provider_context(http))


async def test_the_tenants_body_is_posted_as_json_and_signed(webhook_receiver, http_session, closing):
    provider = closing(webhook(webhook_receiver, http_session))
    body = {"alert": "disk", "host": "db-1", "usage": 0.95, "tags": ["ops", "ünïcode"]}
    before = int(time.time())
    outcome = await provider.send(message("webhook", {"body": body}, user_id="u1"))

    [delivery] = webhook_receiver.deliveries  # the receiver only keeps verified requests
    assert delivery.json() == body
    assert delivery.headers["Content-Type"] == "application/json"
    assert delivery.headers["X-AlertFlow-Delivery"] == "dlv_01HZX3K9"
    assert before <= int(delivery.headers["X-AlertFlow-Timestamp"]) <= int(time.time())
    assert outcome == Sent()


async def test_without_a_body_an_envelope_describes_the_notification(webhook_receiver, http_session, closing):
    provider = closing(webhook(webhook_receiver, http_session))
    content = {"title": "Disk alert", "text": "/var is 95% full"}
    await provider.send(message("webhook", content, user_id="u1", email="ann@example.com", priority="high"))

    assert webhook_receiver.deliveries[0].json() == {
        "notification_id": "ntf_01HZX3K8",
        "delivery_id": "dlv_01HZX3K9",
        "tenant_id": "ten_acme",
        "category": "alerts",
        "priority": "high",
        "recipient": {"user_id": "u1", "email": "ann@example.com"},
        "content": content,
    }


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    # A known answer, so receivers written from the documented scheme keep verifying.
    assert signature("s3cret", "1700000000", b'{"a":1}') == (
        "sha256=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940"
    )


async def test_a_receiver_with_another_secret_rejects_it_and_the_delivery_is_retried(
    webhook_receiver, http_session, closing
):
    provider = closing(webhook(webhook_receiver, http_session, secret="stale-secret"))
    with pytest.raises(RetryLater, match="401"):
        await provider.send(message("webhook", {"body": {}}))
    assert webhook_receiver.rejected == 1


@pytest.mark.parametrize("status", [408, 500, 503])
async def test_transient_replies_are_retried(webhook_receiver, http_session, closing, status):
    webhook_receiver.script(Reply(status, text="later"))
    provider = closing(webhook(webhook_receiver, http_session))
    with pytest.raises(RetryLater) as failure:
        await provider.send(message("webhook", {"body": {}}))
    assert type(failure.value) is RetryLater


async def test_429_is_rate_limiting_with_retry_after(webhook_receiver, http_session, closing):
    webhook_receiver.script(Reply(429, headers={"Retry-After": "12"}))
    provider = closing(webhook(webhook_receiver, http_session))
    with pytest.raises(RateLimited) as limited:
        await provider.send(message("webhook", {"body": {}}))
    assert limited.value.after == 12


@pytest.mark.parametrize("status", [400, 404, 410, 422, 301])
async def test_other_replies_fail_permanently(webhook_receiver, http_session, closing, status):
    webhook_receiver.script(Reply(status, headers={"Location": "https://elsewhere.test/"} if status == 301 else {}))
    provider = closing(webhook(webhook_receiver, http_session))
    with pytest.raises(PermanentFailure, match=str(status)):
        await provider.send(message("webhook", {"body": {}}))


async def test_a_receiver_that_does_not_answer_in_time_is_retried(webhook_receiver, http_session, closing):
    webhook_receiver.script(Reply(hang=True))
    provider = closing(webhook(webhook_receiver, http_session, timeout_seconds=0.2))
    with pytest.raises(RetryLater, match="Timeout"):
        await provider.send(message("webhook", {"body": {}}))


async def test_an_unreachable_receiver_is_retried(webhook_receiver, http_session, closing):
    provider = closing(webhook(webhook_receiver, http_session, url=closed_port_url(PATH)))
    with pytest.raises(RetryLater):
        await provider.send(message("webhook", {"body": {}}))


@pytest.mark.parametrize(
    "overrides",
    [
        {"url": "ftp://example.com/hook"},
        {"url": "not a url"},
        {"secret": ""},
        {"timeout_seconds": 0},
        {"timeout_seconds": -1},
        {"timeout_seconds": 301},
        {"timeout_seconds": float("inf")},
        {"timeout_seconds": float("nan")},
        {"method": "PUT"},
    ],
)
def test_settings_reject_mistakes(overrides):
    with pytest.raises(ValidationError) as error:
        WebhookProvider.Settings(**{"url": "https://example.com/hook", "secret": "s", **overrides})
    assert [e["loc"][0] for e in error.value.errors()] == list(overrides)


def test_the_longest_timeout_is_accepted():
    settings = WebhookProvider.Settings(url="https://example.com/hook", secret="s", timeout_seconds=MAX_TIMEOUT_SECONDS)
    assert settings.timeout_seconds == MAX_TIMEOUT_SECONDS
