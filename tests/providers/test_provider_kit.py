"""The helpers the first-party providers share: HTTP replies and push fan-out as outcomes."""

from __future__ import annotations

import pytest
from alertflow_provider_kit import outcome_for_status, retry_after_seconds
from alertflow_provider_kit.http import MAX_RETRY_AFTER_SECONDS

from alertflow.message import Device
from alertflow.outcomes import DeliveryError, PermanentFailure, RateLimited, RetryLater, Sent, combine_device_outcomes

A, B, C = (Device(kind="fcm", token=t) for t in "abc")


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        ("0", 0.0),
        ("86400", MAX_RETRY_AFTER_SECONDS),  # capped: a peer cannot park a delivery for a day
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # an HTTP-date in the past: now
        ("Fri, 01 Jan 2100 00:00:00 GMT", MAX_RETRY_AFTER_SECONDS),
        ("soon", None),
        ("-5", None),
    ],
)
def test_retry_after_takes_seconds_or_an_http_date(header, seconds):
    assert retry_after_seconds(header) == seconds


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (429, RateLimited),
        (500, RetryLater),
        (502, RetryLater),
        (503, RetryLater),
        (408, RetryLater),
        (401, RetryLater),  # refused credentials: the operator fixes them, the DLQ replays
        (400, PermanentFailure),
        (403, PermanentFailure),
        (404, PermanentFailure),
        (422, PermanentFailure),
        (301, PermanentFailure),
    ],
)
def test_http_status_classes_map_to_outcomes(status, outcome):
    result = outcome_for_status(status, f"api {status}", retry_after="3")
    assert type(result) is outcome
    assert result.error == f"api {status}"


def test_retry_after_travels_with_rate_limiting_and_unavailability():
    limited = outcome_for_status(429, "x", "9")
    unavailable = outcome_for_status(503, "x", "9")
    assert isinstance(limited, RetryLater) and limited.after == 9
    assert isinstance(unavailable, RetryLater) and unavailable.after == 9


def fold(*outcomes: Sent | DeliveryError) -> Sent | DeliveryError:
    try:
        return combine_device_outcomes(outcomes)
    except DeliveryError as failure:
        return failure


def test_one_device_reached_makes_the_delivery_sent_carrying_the_pruned_ones():
    result = fold(Sent("m1"), PermanentFailure("gone", pruned=(B,)), RetryLater("busy"), Sent("m2"))
    assert result == Sent(provider_message_id="m1,m2", pruned=(B,))


def test_with_none_reached_a_transient_failure_wins_and_still_carries_the_pruned():
    result = fold(PermanentFailure("gone", pruned=(A,)), RetryLater("busy", after=5))
    assert type(result) is RetryLater
    assert result.pruned == (A,) and result.after == 5


def test_rate_limiting_anywhere_makes_the_delivery_rate_limited_for_the_longest_wait():
    result = fold(RetryLater("busy", after=40), RateLimited("slow", after=10), RateLimited("slow"))
    assert type(result) is RateLimited
    assert result.after == 40
    assert result.error == "busy; slow"  # distinct errors, in order


def test_all_devices_failing_for_good_is_a_permanent_failure_with_every_pruned_device():
    result = fold(PermanentFailure("gone", pruned=(A,)), PermanentFailure("gone", pruned=(C,)))
    assert type(result) is PermanentFailure
    assert result.pruned == (A, C)


def test_no_devices_at_all_is_a_permanent_failure():
    assert type(fold()) is PermanentFailure
