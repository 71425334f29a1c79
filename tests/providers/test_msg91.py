"""The msg91 provider against a local MSG91 Flow API."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest
from alertflow_msg91 import Msg91Provider

from alertflow.outcomes import PermanentFailure, RateLimited, RetryLater, Sent
from tests.fakes.http import Reply, closed_port_url
from tests.fakes.msg91 import AUTH_KEY, FLOW_ID, FakeMsg91

from .context import provider_context
from .messages import message


def msg91(fake: FakeMsg91, http: Any = None, **overrides: Any) -> Msg91Provider:
    values = {
        "auth_key": AUTH_KEY,
        "sender_id": "ALRTFL",
        "flow_id": FLOW_ID,
        "api_base_url": fake.url(),
        **overrides,
    }
    return Msg91Provider(Msg91Provider.Settings(**values), provider_context(http))


def sms_to(phone: str | None = "+91 98765-43210") -> Any:
    return message("sms", {"body": "Your OTP is 482913"}, phone=phone)


async def test_the_text_goes_to_the_flow_as_a_variable_for_the_number_in_digits(fake_msg91, http_session, closing):
    provider = closing(msg91(fake_msg91, http_session))
    outcome = await provider.send(sms_to())

    [body] = fake_msg91.requests_sent
    assert body == {
        "template_id": FLOW_ID,
        "sender": "ALRTFL",
        "recipients": [{"mobiles": "919876543210", "body": "Your OTP is 482913"}],
    }
    assert isinstance(outcome, Sent) and outcome.provider_message_id


async def test_the_flow_variable_for_the_text_is_configurable(fake_msg91, http_session, closing):
    provider = closing(msg91(fake_msg91, http_session, body_variable="VAR1"))
    await provider.send(sms_to())
    assert fake_msg91.requests_sent[0]["recipients"] == [{"mobiles": "919876543210", "VAR1": "Your OTP is 482913"}]


async def test_a_dlt_template_id_is_sent_for_indias_dlt_rules(fake_msg91, http_session, closing):
    provider = closing(msg91(fake_msg91, http_session, dlt_template_id="1107161234567890123"))
    await provider.send(sms_to())
    assert fake_msg91.requests_sent[0]["DLT_TE_ID"] == "1107161234567890123"
    assert "DLT_TE_ID" not in msg91(fake_msg91)._body(sms_to(), "919876543210"), "only when set"


def test_a_dlt_template_id_is_digits() -> None:
    with pytest.raises(pydantic.ValidationError):
        Msg91Provider.Settings(auth_key="k", sender_id="S", flow_id="f", dlt_template_id="abc")


async def test_without_a_shared_session_the_provider_uses_and_closes_its_own(fake_msg91):
    provider = msg91(fake_msg91)
    await provider.send(sms_to())
    await provider.close()
    assert len(fake_msg91.requests_sent) == 1


@pytest.mark.parametrize(
    ("provider_overrides", "phone", "error"),
    [
        ({}, "+91 12", "Mobile number"),  # MSG91 answers HTTP 200 {"type": "error"}
        ({"flow_id": "unknown-flow"}, "+919876543210", "Flow ID"),
    ],
)
async def test_an_error_reply_fails_permanently(fake_msg91, http_session, closing, provider_overrides, phone, error):
    provider = closing(msg91(fake_msg91, http_session, **provider_overrides))
    with pytest.raises(PermanentFailure, match=error):
        await provider.send(sms_to(phone))
    assert fake_msg91.requests_sent == []


async def test_a_refused_authkey_is_retried_as_a_configuration_problem(fake_msg91, http_session, closing):
    provider = closing(msg91(fake_msg91, http_session, auth_key="revoked"))
    with pytest.raises(RetryLater, match="Authentication failure"):
        await provider.send(sms_to())


async def test_rate_limiting_is_reported_with_retry_after(fake_msg91, http_session, closing):
    fake_msg91.script(
        Reply(
            429,
            json={"type": "error", "message": "Too many requests"},
            headers={"Retry-After": "30"},
        )
    )
    provider = closing(msg91(fake_msg91, http_session))
    with pytest.raises(RateLimited) as limited:
        await provider.send(sms_to())
    assert limited.value.after == 30


async def test_server_errors_are_retried(fake_msg91, http_session, closing):
    fake_msg91.script(Reply(502, text="<html>Bad Gateway</html>"))
    provider = closing(msg91(fake_msg91, http_session))
    with pytest.raises(RetryLater) as failure:
        await provider.send(sms_to())
    assert type(failure.value) is RetryLater


async def test_an_unreachable_api_is_retried(fake_msg91, http_session, closing):
    provider = closing(msg91(fake_msg91, http_session, api_base_url=closed_port_url()))
    with pytest.raises(RetryLater):
        await provider.send(sms_to())


async def test_a_recipient_without_a_phone_number_fails_permanently(fake_msg91, http_session, closing):
    provider = closing(msg91(fake_msg91, http_session))
    with pytest.raises(PermanentFailure, match="no phone number"):
        await provider.send(sms_to(None))
    assert fake_msg91.requests == []
