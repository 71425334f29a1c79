"""The twilio provider: the official SDK against a local Messages API, and signed receipts."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from alertflow_twilio import TwilioProvider
from pydantic import ValidationError

from alertflow.outcomes import InvalidReceipt, PermanentFailure, RateLimited, Receipt, RetryLater, Sent
from tests.fakes.http import Reply, closed_port_url
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, INVALID_NUMBER_PREFIX, FakeTwilio

from .context import provider_context
from .messages import message

FROM = "+15017122661"
SERVICE_SID = "MG" + "2" * 32
PUBLIC_URL = "https://alertflow.example"


def settings(twilio: FakeTwilio, **overrides: Any) -> Any:
    values = {
        "account_sid": ACCOUNT_SID,
        "auth_token": AUTH_TOKEN,
        "from_number": FROM,
        "api_base_url": twilio.url(),
        **overrides,
    }
    return TwilioProvider.Settings(**{k: v for k, v in values.items() if v is not None})


def twilio_provider(twilio: FakeTwilio, public_url: str | None = PUBLIC_URL, **overrides: Any) -> TwilioProvider:
    return TwilioProvider(settings(twilio, **overrides), provider_context(public_url=public_url))


def sms_to(phone: str | None = "+15558675310") -> Any:
    return message("sms", {"body": "CPU > 90% on web-1"}, phone=phone)


async def test_an_sms_is_created_with_sender_body_and_status_callback(fake_twilio, closing):
    provider = closing(twilio_provider(fake_twilio))
    outcome = await provider.send(sms_to())

    [form] = fake_twilio.messages
    assert form["To"] == "+15558675310"
    assert form["From"] == FROM
    assert form["Body"] == "CPU > 90% on web-1"
    assert form["StatusCallback"] == f"{PUBLIC_URL}/v1/receipts/twilio/dlv_01HZX3K9"
    assert isinstance(outcome, Sent)
    assert outcome.provider_message_id and outcome.provider_message_id.startswith("SM")


async def test_a_messaging_service_sends_instead_of_a_from_number(fake_twilio, closing):
    provider = closing(twilio_provider(fake_twilio, from_number=None, messaging_service_sid=SERVICE_SID))
    await provider.send(sms_to())
    [form] = fake_twilio.messages
    assert form["MessagingServiceSid"] == SERVICE_SID
    assert "From" not in form


async def test_no_status_callback_is_asked_for_without_a_public_url(fake_twilio, closing):
    provider = closing(twilio_provider(fake_twilio, public_url=None))
    await provider.send(sms_to())
    assert "StatusCallback" not in fake_twilio.messages[0]


async def test_an_invalid_number_fails_permanently(fake_twilio, closing):
    provider = closing(twilio_provider(fake_twilio))
    with pytest.raises(PermanentFailure, match="21211"):
        await provider.send(sms_to(INVALID_NUMBER_PREFIX + "1234"))
    assert fake_twilio.messages == []


async def test_rate_limiting_is_reported_with_twilios_retry_after(fake_twilio, closing):
    fake_twilio.script(
        Reply(
            429,
            json={"code": 20429, "message": "Too Many Requests", "status": 429},
            headers={"Retry-After": "7"},
        )
    )
    provider = closing(twilio_provider(fake_twilio))
    with pytest.raises(RateLimited) as limited:
        await provider.send(sms_to())
    assert limited.value.after == 7


@pytest.mark.parametrize("status", [500, 503])
async def test_server_errors_are_retried(fake_twilio, closing, status):
    fake_twilio.script(Reply(status, json={"code": 20500, "message": "Internal Server Error", "status": status}))
    provider = closing(twilio_provider(fake_twilio))
    with pytest.raises(RetryLater) as failure:
        await provider.send(sms_to())
    assert type(failure.value) is RetryLater


async def test_a_proxy_error_page_without_json_is_retried(fake_twilio, closing):
    fake_twilio.script(Reply(502, text="<html>Bad Gateway</html>"))
    provider = closing(twilio_provider(fake_twilio))
    with pytest.raises(RetryLater):
        await provider.send(sms_to())


async def test_refused_credentials_are_retried_as_a_configuration_problem(fake_twilio, closing):
    provider = closing(twilio_provider(fake_twilio, auth_token="rotated-token"))
    with pytest.raises(RetryLater, match="20003"):
        await provider.send(sms_to())


async def test_an_unreachable_api_is_retried(fake_twilio, closing):
    provider = closing(twilio_provider(fake_twilio, api_base_url=closed_port_url()))
    with pytest.raises(RetryLater, match="Connection refused"):
        await provider.send(sms_to())


async def test_a_recipient_without_a_phone_number_fails_permanently(fake_twilio, closing):
    provider = closing(twilio_provider(fake_twilio))
    with pytest.raises(PermanentFailure, match="no phone number"):
        await provider.send(sms_to(None))
    assert fake_twilio.requests == []


@pytest.mark.parametrize(
    "overrides",
    [
        {"messaging_service_sid": SERVICE_SID},  # both senders
        {"from_number": None},  # neither
        {"account_sid": "not-a-sid"},
        {"region": "au1"},  # unknown key
    ],
)
def test_settings_reject_mistakes(fake_twilio, overrides):
    with pytest.raises(ValidationError):
        settings(fake_twilio, **overrides)


# Status callbacks: Twilio POSTs a signed form to the StatusCallback URL.


@pytest.fixture
async def receipts(fake_twilio, aiohttp_client):
    """A stand-in for the core's receipt route, handing each request to parse_receipt."""
    parsed: list[Receipt] = []
    provider_settings = settings(fake_twilio)

    async def route(request: web.Request) -> web.Response:
        try:
            parsed.append(await TwilioProvider.parse_receipt(request, provider_settings))
        except InvalidReceipt:
            return web.Response(status=403)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/v1/receipts/twilio/{delivery_id}", route)
    client = await aiohttp_client(app)
    return str(client.make_url("/v1/receipts/twilio/dlv_01HZX3K9")), client.session, parsed


SID = "SM" + "a" * 32


def callback(status: str, **extra: str) -> dict[str, str]:
    return {
        "MessageSid": SID,
        "AccountSid": ACCOUNT_SID,
        "MessageStatus": status,
        **extra,
    }


@pytest.mark.parametrize(
    ("form", "receipt"),
    [
        (callback("delivered"), Receipt("delivered", provider_message_id=SID)),
        (callback("undelivered", ErrorCode="30003"), Receipt("undelivered", "30003", SID)),
        (callback("failed", ErrorCode="30008"), Receipt("failed", "30008", SID)),
        (callback("sent"), Receipt("sent", provider_message_id=SID)),  # intermediate: the core ignores it
    ],
)
async def test_a_signed_status_callback_becomes_a_receipt_naming_its_message(fake_twilio, receipts, form, receipt):
    url, session, parsed = receipts
    assert await fake_twilio.status_callback(session, url, form) == 204
    assert parsed == [receipt]


async def test_a_signed_callback_that_names_no_message_is_refused(fake_twilio, receipts):
    url, session, parsed = receipts
    form = {k: v for k, v in callback("delivered").items() if k != "MessageSid"}
    assert await fake_twilio.status_callback(session, url, form) == 403
    assert parsed == []


async def test_a_callback_with_a_forged_signature_is_refused(fake_twilio, receipts):
    url, session, parsed = receipts
    assert await fake_twilio.status_callback(session, url, callback("delivered"), sign=False) == 403
    assert parsed == []


async def test_a_callback_signed_for_another_delivery_is_refused(fake_twilio, receipts):
    url, session, parsed = receipts
    signature = fake_twilio.signature(url.replace("dlv_01HZX3K9", "dlv_other"), callback("delivered"))
    async with session.post(url, data=callback("delivered"), headers={"X-Twilio-Signature": signature}) as response:
        assert response.status == 403
    assert parsed == []
