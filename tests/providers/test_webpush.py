"""The webpush provider: pywebpush against a push service that checks VAPID and decrypts."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from alertflow_webpush import WebPushProvider, generate_vapid_keys, vapid_public_key
from pydantic import ValidationError

from alertflow.message import Device
from alertflow.outcomes import PermanentFailure, RateLimited, RetryLater, Sent
from tests.fakes.http import Reply, closed_port_url
from tests.fakes.webpush import FakePushService

from .context import provider_context
from .messages import message

SUBJECT = "mailto:ops@alertflow.test"
PRIVATE_KEY, PUBLIC_KEY = generate_vapid_keys()


def webpush(http: Any, **overrides: Any) -> WebPushProvider:
    values = {"vapid_private_key": PRIVATE_KEY, "vapid_subject": SUBJECT, **overrides}
    return WebPushProvider(WebPushProvider.Settings(**values), provider_context(http))


def browser(service: FakePushService) -> Device:
    return Device(kind="webpush", subscription=service.subscribe().info)


def push_to(*devices: Device, priority: str = "medium") -> Any:
    content = {"title": "Disk alert", "body": "/var is 95% full", "data": {"url": "/alerts/a1"}}
    return message("push", content, devices=devices, priority=priority, user_id="u1")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def test_each_browser_gets_the_payload_encrypted_for_it_and_signed_with_vapid(
    fake_push_service, http_session, closing
):
    laptop, phone = browser(fake_push_service), browser(fake_push_service)
    provider = closing(webpush(http_session))
    outcome = await provider.send(push_to(laptop, phone, Device(kind="fcm", token="t")))

    assert len(fake_push_service.deliveries) == 2  # the FCM token is another provider's
    delivery = fake_push_service.deliveries[0]
    assert delivery.payload == {
        "title": "Disk alert",
        "body": "/var is 95% full",
        "data": {"url": "/alerts/a1"},
        "notification_id": "ntf_01HZX3K8",
        "category": "alerts",
    }
    assert delivery.vapid_claims["sub"] == SUBJECT
    assert delivery.headers["Authorization"].endswith(f"k={PUBLIC_KEY}")
    assert delivery.headers["TTL"] == "86400"  # kept for a day while the browser is offline
    assert delivery.headers["Urgency"] == "normal"
    assert isinstance(outcome, Sent) and outcome.pruned == ()
    assert outcome.provider_message_id and "/message/" in outcome.provider_message_id


async def test_high_priority_is_sent_with_high_urgency(fake_push_service, http_session, closing):
    provider = closing(webpush(http_session))
    await provider.send(push_to(browser(fake_push_service), priority="high"))
    assert fake_push_service.deliveries[0].headers["Urgency"] == "high"


async def test_each_push_service_gets_claims_for_its_own_origin(fake_push_service, http_session, closing):
    # pywebpush writes "aud" into the claims dict: reusing one would send the first
    # service's origin to the second, which rejects it.
    provider = closing(webpush(http_session))
    async with FakePushService() as other_service:
        await provider.send(push_to(browser(fake_push_service), browser(other_service)))
        assert len(other_service.deliveries) == 1
    assert len(fake_push_service.deliveries) == 1


async def test_an_expired_subscription_is_pruned_while_the_others_get_the_push(
    fake_push_service, http_session, closing
):
    gone = fake_push_service.subscribe()
    fake_push_service.expire(gone)
    expired, current = Device(kind="webpush", subscription=gone.info), browser(fake_push_service)
    provider = closing(webpush(http_session))

    outcome = await provider.send(push_to(expired, current))
    assert outcome.pruned == (expired,)
    assert len(fake_push_service.deliveries) == 1


async def test_when_every_subscription_is_gone_the_delivery_fails_with_all_pruned(
    fake_push_service, http_session, closing
):
    gone = fake_push_service.subscribe()
    fake_push_service.expire(gone)
    expired = Device(kind="webpush", subscription=gone.info)  # 410
    unknown_info = {**gone.info, "endpoint": fake_push_service.url("/push/never-subscribed")}
    unknown = Device(kind="webpush", subscription=unknown_info)  # 404
    malformed = Device(kind="webpush", subscription={"endpoint": fake_push_service.url("/push/x")})
    provider = closing(webpush(http_session))

    with pytest.raises(PermanentFailure) as failure:
        await provider.send(push_to(expired, unknown, malformed))
    assert failure.value.pruned == (expired, unknown, malformed)


async def test_rate_limiting_is_reported_with_the_services_retry_after(fake_push_service, http_session, closing):
    fake_push_service.script(Reply(429, text="slow down", headers={"Retry-After": "20"}))
    provider = closing(webpush(http_session))
    with pytest.raises(RateLimited) as limited:
        await provider.send(push_to(browser(fake_push_service)))
    assert limited.value.after == 20


async def test_server_errors_are_retried_without_pruning(fake_push_service, http_session, closing):
    fake_push_service.script(Reply(503, text="unavailable"))
    provider = closing(webpush(http_session))
    with pytest.raises(RetryLater) as failure:
        await provider.send(push_to(browser(fake_push_service)))
    assert type(failure.value) is RetryLater and failure.value.pruned == ()


async def test_an_unreachable_push_service_is_retried(http_session, closing):
    info = {"endpoint": closed_port_url("/push/x"), "keys": {"p256dh": "", "auth": ""}}
    async with FakePushService() as service:
        info["keys"] = service.subscribe().info["keys"]
    provider = closing(webpush(http_session))
    with pytest.raises(RetryLater):
        await provider.send(push_to(Device(kind="webpush", subscription=info)))


async def test_without_a_shared_session_the_provider_uses_and_closes_its_own(fake_push_service):
    provider = webpush(None)
    await provider.send(push_to(browser(fake_push_service)))
    await provider.close()
    assert len(fake_push_service.deliveries) == 1


async def test_a_recipient_without_browser_subscriptions_fails_permanently(http_session, closing):
    provider = closing(webpush(http_session))
    with pytest.raises(PermanentFailure, match="no browser subscription"):
        await provider.send(push_to(Device(kind="fcm", token="t")))


def test_generated_vapid_keys_are_a_raw_p256_pair_browsers_accept():
    private, public = generate_vapid_keys()
    assert len(unb64url(private)) == 32
    raw_public = unb64url(public)
    assert len(raw_public) == 65 and raw_public[0] == 0x04  # uncompressed point
    assert "=" not in private + public  # unpadded base64url, as applicationServerKey wants
    assert vapid_public_key(private) == public
    assert generate_vapid_keys()[0] != private
    WebPushProvider.Settings(vapid_private_key=private, vapid_subject=SUBJECT)


@pytest.mark.parametrize(
    "overrides",
    [
        {"vapid_private_key": "not-a-key"},
        {"vapid_subject": "ops@alertflow.test"},
        {"vapid_subject": "http://alertflow.test"},
        {"ttl": 60},
    ],
)
def test_settings_reject_mistakes(overrides):
    with pytest.raises(ValidationError):
        WebPushProvider.Settings(**{"vapid_private_key": PRIVATE_KEY, "vapid_subject": SUBJECT, **overrides})
