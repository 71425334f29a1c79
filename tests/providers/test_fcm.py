"""The fcm provider: pyfcm against a local FCM HTTP v1 API and OAuth token endpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from alertflow_fcm import FcmProvider
from alertflow_provider_kit.http import MAX_RETRY_AFTER_SECONDS
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from alertflow.message import Device
from alertflow.outcomes import PermanentFailure, RateLimited, RetryLater, Sent
from tests.fakes.fcm import BAD_REQUEST, FakeFcm
from tests.fakes.http import Reply

from .context import provider_context
from .messages import message

PHONE = Device(kind="fcm", token="token-phone")
TABLET = Device(kind="fcm", token="token-tablet")
BROWSER = Device(kind="webpush", subscription={"endpoint": "https://push.example/x"})


def fcm(fake: FakeFcm, **overrides: Any) -> FcmProvider:
    values = {
        "service_account_json": fake.service_account_json(),
        "endpoint": fake.url(),
        **overrides,
    }
    return FcmProvider(FcmProvider.Settings(**values), provider_context())


def push_to(*devices: Device, priority: str = "medium", **content: Any) -> Any:
    content = content or {"title": "Disk alert", "body": "/var is 95% full"}
    return message("push", content, devices=devices, priority=priority, user_id="u1")


def fcm_error(status: int, code: str, message: str, *details: dict[str, Any]) -> dict[str, Any]:
    return {"error": {"code": status, "status": code, "message": message, "details": list(details)}}


async def test_each_fcm_token_gets_the_notification_with_string_data(fake_fcm, closing):
    provider = closing(fcm(fake_fcm))
    data = {"alert_id": "a1", "count": 3, "labels": {"team": "ops"}}
    outcome = await provider.send(push_to(PHONE, TABLET, BROWSER, title="Disk alert", body="95%", data=data))

    assert sorted(m["token"] for m in fake_fcm.messages) == ["token-phone", "token-tablet"]
    sent = fake_fcm.messages[0]
    assert sent["notification"] == {"title": "Disk alert", "body": "95%"}
    assert sent["data"] == {"alert_id": "a1", "count": "3", "labels": '{"team": "ops"}'}
    assert sent["android"] == {"priority": "normal"}
    assert isinstance(outcome, Sent) and outcome.pruned == ()
    assert set(outcome.provider_message_id.split(",")) == {
        "projects/alertflow-test/messages/1",
        "projects/alertflow-test/messages/2",
    }
    assert fake_fcm.token_requests >= 1  # the JWT-bearer grant the fake verified


async def test_high_priority_asks_android_and_apns_for_immediate_delivery(fake_fcm, closing):
    provider = closing(fcm(fake_fcm))
    await provider.send(push_to(PHONE, priority="high"))
    assert fake_fcm.messages[0]["android"] == {"priority": "high"}
    assert fake_fcm.messages[0]["apns"] == {"headers": {"apns-priority": "10"}}


async def test_a_service_account_file_works_like_inline_json(fake_fcm, closing, tmp_path: Path):
    key_file = tmp_path / "service-account.json"
    key_file.write_text(fake_fcm.service_account_json())
    provider = closing(fcm(fake_fcm, service_account_json=None, service_account_file=key_file))
    assert isinstance(await provider.send(push_to(PHONE)), Sent)


async def test_the_configured_project_wins_over_the_service_accounts(closing):
    async with FakeFcm(project_id="prod-project") as fake:
        info = {**fake.service_account_info(), "project_id": "another-project"}
        provider = closing(fcm(fake, service_account_json=json.dumps(info), project_id="prod-project"))
        await provider.send(push_to(PHONE))
        assert fake.requests[-1].path == "/v1/projects/prod-project/messages:send"


async def test_an_unregistered_token_is_pruned_while_the_others_get_the_push(fake_fcm, closing):
    fake_fcm.unregistered.add("token-phone")
    provider = closing(fcm(fake_fcm))
    outcome = await provider.send(push_to(PHONE, TABLET))
    assert outcome.pruned == (PHONE,)
    assert [m["token"] for m in fake_fcm.messages] == ["token-tablet"]


async def test_when_every_token_is_gone_the_delivery_fails_with_all_of_them_pruned(fake_fcm, closing):
    fake_fcm.unregistered.add("token-phone")
    fake_fcm.invalid.add("token-tablet")
    provider = closing(fcm(fake_fcm))
    with pytest.raises(PermanentFailure) as failure:
        await provider.send(push_to(PHONE, TABLET))
    assert set(failure.value.pruned) == {PHONE, TABLET}


async def test_a_payload_fcm_rejects_fails_without_pruning_the_token(fake_fcm, closing):
    violation = {
        "@type": BAD_REQUEST,
        "fieldViolations": [{"field": "message.data", "description": "bad"}],
    }
    fake_fcm.script(
        Reply(400, json=fcm_error(400, "INVALID_ARGUMENT", "Invalid data", violation)),
        path=fake_fcm.send_path,
    )
    provider = closing(fcm(fake_fcm))
    with pytest.raises(PermanentFailure) as failure:
        await provider.send(push_to(PHONE))
    assert failure.value.pruned == ()


async def test_rate_limiting_returns_at_once_with_a_capped_retry_after(fake_fcm, closing):
    # pyfcm itself would sleep for the whole hour in the worker thread, then retry.
    quota = fcm_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded")
    fake_fcm.script(Reply(429, json=quota, headers={"Retry-After": "3600"}), path=fake_fcm.send_path)
    provider = closing(fcm(fake_fcm))
    with pytest.raises(RateLimited) as limited:
        await provider.send(push_to(PHONE))
    assert limited.value.after == MAX_RETRY_AFTER_SECONDS


async def test_unavailable_is_retried_by_the_queue_not_inside_the_library(fake_fcm, closing):
    unavailable = fcm_error(503, "UNAVAILABLE", "The service is currently unavailable.")
    fake_fcm.script(Reply(503, json=unavailable), path=fake_fcm.send_path)
    provider = closing(fcm(fake_fcm))
    with pytest.raises(RetryLater) as failure:
        await provider.send(push_to(PHONE))
    assert type(failure.value) is RetryLater
    assert fake_fcm.messages == []  # pyfcm's default adapter would have re-sent it by itself


async def test_an_expired_access_token_is_renewed_and_the_push_sent(fake_fcm, closing):
    expired = fcm_error(401, "UNAUTHENTICATED", "expired", {"reason": "ACCESS_TOKEN_EXPIRED"})
    fake_fcm.script(Reply(401, json=expired), path=fake_fcm.send_path)
    provider = closing(fcm(fake_fcm))

    assert isinstance(await provider.send(push_to(PHONE)), Sent)
    assert fake_fcm.token_requests == 2  # the first token, then its replacement
    assert len(fake_fcm.messages) == 1


async def test_refused_credentials_are_retried_as_a_configuration_problem(fake_fcm, closing):
    denied = fcm_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
    fake_fcm.script(Reply(401, json=denied), path=fake_fcm.send_path)
    provider = closing(fcm(fake_fcm))
    with pytest.raises(RetryLater, match="401"):
        await provider.send(push_to(PHONE))


async def test_a_service_account_the_token_endpoint_rejects_is_retried(fake_fcm, closing):
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    pem = stranger.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    info = {**fake_fcm.service_account_info(), "private_key": pem.decode()}
    provider = closing(fcm(fake_fcm, service_account_json=json.dumps(info)))
    with pytest.raises(RetryLater, match="access token"):
        await provider.send(push_to(PHONE))
    assert fake_fcm.messages == []


async def test_a_recipient_without_fcm_tokens_fails_permanently(fake_fcm, closing):
    provider = closing(fcm(fake_fcm))
    with pytest.raises(PermanentFailure, match="no FCM registration token"):
        await provider.send(push_to(BROWSER))


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"service_account_file": "/etc/hosts"}, "exactly one"),
        ({"service_account_json": None}, "exactly one"),
        ({"service_account_json": '{"type": "authorized_user"}'}, "service account"),
        ({"service_account_json": "{not json"}, "cannot read"),
        ({"service_account_json": '{"type": "service_account"}'}, "lacks client_email"),
        ({"api_key": "legacy"}, "api_key"),
    ],
)
def test_settings_reject_mistakes(fake_fcm, overrides, error):
    values = {"service_account_json": fake_fcm.service_account_json(), **overrides}
    with pytest.raises(ValidationError, match=error):
        FcmProvider.Settings(**{k: v for k, v in values.items() if v is not None})


def test_a_project_is_required_when_the_service_account_names_none(fake_fcm):
    info = {**fake_fcm.service_account_info(), "project_id": ""}
    with pytest.raises(ValidationError, match="project_id"):
        FcmProvider.Settings(service_account_json=json.dumps(info))
    assert FcmProvider.Settings(service_account_json=json.dumps(info), project_id="p").project_id == "p"
