"""Signed tokens: what verifies, and every way a token is refused."""

from __future__ import annotations

import pytest

from alertflow.signing import ExpiredToken, InvalidToken, sign, verify

NOW = 1_800_000_000.0


def test_a_token_verifies_until_its_expiry_and_carries_its_payload() -> None:
    token = sign("s3cret", "inbox", {"t": "ten_1", "u": "u1"}, 60, now=NOW)
    assert verify("s3cret", "inbox", token, now=NOW + 59.9) == {"t": "ten_1", "u": "u1", "exp": NOW + 60}
    with pytest.raises(ExpiredToken):
        verify("s3cret", "inbox", token, now=NOW + 60)


def test_an_expired_token_is_also_an_invalid_one_for_callers_that_do_not_care_why() -> None:
    token = sign("s3cret", "inbox", {"u": "u1"}, 1, now=NOW - 10)
    with pytest.raises(InvalidToken):
        verify("s3cret", "inbox", token, now=NOW)


def test_a_token_for_another_purpose_or_secret_is_refused() -> None:
    token = sign("s3cret", "inbox", {"u": "u1"}, 60, now=NOW)
    with pytest.raises(InvalidToken, match="signature"):
        verify("s3cret", "unsubscribe", token, now=NOW)
    with pytest.raises(InvalidToken, match="signature"):
        verify("other", "inbox", token, now=NOW)


def test_a_changed_payload_or_signature_is_refused() -> None:
    token = sign("s3cret", "inbox", {"u": "u1"}, 60, now=NOW)
    forged_body = sign("attacker", "inbox", {"u": "admin"}, 60, now=NOW).split(".")[0]
    body, mac = token.split(".")
    for forged in (f"{forged_body}.{mac}", f"{body}.{mac[:-2]}AA", f"{body}.!!", f"{body}.", "garbage", ""):
        with pytest.raises(InvalidToken) as refused:
            verify("s3cret", "inbox", forged, now=NOW)
        assert not isinstance(refused.value, ExpiredToken)


def test_the_expiry_cannot_be_passed_in_the_payload() -> None:
    with pytest.raises(ValueError, match="exp"):
        sign("s3cret", "inbox", {"exp": NOW + 10**9}, 60)
