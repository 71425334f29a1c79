"""A test message sent now through each of a tenant's providers for a channel.

It goes outside the queue (an owner waiting on "send test" should not wait behind a bulk
send) and through every provider in the set-up, fail-overs included, so each one's
settings are checked; each answer is that provider's outcome and how long it took. It takes
the deliverer's provider-call path (``deliverer.call``) and the providers' own connections,
so the outbound guard applies as it does to deliveries; it leaves the circuit breakers and
send rates alone: one message a person asked for says nothing of a provider's health.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

from ..ids import new_id
from ..message import Message, Recipient
from ..outcomes import DeliveryError, RetryLater, Sent, clip
from ..providers.channel_setup import Handle
from .deliverer import call, outcome_name

# The longest one provider's test may take: past every provider's own timeout (SMTP's
# default is 30 s), so that a provider that never answers still gets an answer here.
TRIAL_TIMEOUT_SECONDS = 45.0
SUBJECT = "AlertFlow test message"
TEXT = "This is a test message from AlertFlow, sent to check this channel's providers."
# What each channel's test message says: the fields a delivery of that channel renders.
CONTENT: dict[str, dict[str, Any]] = {
    "email": {"subject": SUBJECT, "text": TEXT, "html": f"<p>{TEXT}</p>"},
    "sms": {"body": TEXT},
    "push": {"title": SUBJECT, "body": TEXT, "data": {"alertflow_test": "1"}},
    "inapp": {"title": SUBJECT, "body": TEXT, "action_url": None, "data": {}},
    "webhook": {"body": {"type": "alertflow.test", "text": TEXT}},
}


def missing_contact(channel: str, recipient: Recipient) -> str | None:
    """The field of ``to`` a test on ``channel`` lacks (given or from the user's record), or None."""
    has = {
        "email": recipient.email,
        "sms": recipient.phone,
        "push": recipient.devices,
        "inapp": recipient.user_id,
    }
    needs = {"email": "email", "sms": "phone", "push": "push_token", "inapp": "user_id"}
    return needs[channel] if channel in has and not has[channel] else None


async def send_test(tenant_id: str, channel: str, recipient: Recipient, handles: list[Handle]) -> list[dict[str, Any]]:
    """Each provider's outcome, in the set-up's order: ``ok``, ``outcome`` (as an attempt's),
    ``error``, ``latency_ms`` and the circuit's state."""
    test_id = new_id("test")  # names the message in the provider's logs and the outbox
    message = Message(
        tenant_id=tenant_id,
        notification_id=test_id,
        delivery_id=test_id,
        channel=channel,
        recipient=recipient,
        content=CONTENT[channel],
        category="transactional",
        priority="high",
    )
    return [await _one(handle, _for(handle, message)) for handle in handles]


def _for(handle: Handle, message: Message) -> Message | None:
    """The message with the devices this provider serves (push); None when it serves none."""
    devices = message.recipient.devices
    if message.channel != "push" or not devices:
        return message
    served = tuple(d for d in devices if handle.serves(d.kind))
    if not served:
        return None
    return dataclasses.replace(message, recipient=dataclasses.replace(message.recipient, devices=served))


async def _one(handle: Handle, message: Message | None) -> dict[str, Any]:
    out: dict[str, Any] = {"provider": handle.name, "circuit": handle.breaker.state}
    if message is None:
        return {**out, "ok": False, "outcome": "skipped", "error": "the recipient has no device it serves"}
    started = time.perf_counter()
    try:
        async with asyncio.timeout(TRIAL_TIMEOUT_SECONDS):
            result: Sent | DeliveryError = await call(handle, message)
    except TimeoutError:
        result = RetryLater(f"no answer within {TRIAL_TIMEOUT_SECONDS:g} s")
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    if isinstance(result, Sent):
        return {**out, "ok": True, "outcome": outcome_name(result), "error": None, "latency_ms": latency_ms}
    return {**out, "ok": False, "outcome": outcome_name(result), "error": clip(result.error), "latency_ms": latency_ms}
