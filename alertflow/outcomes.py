"""The closed set of outcomes a provider can report for one send.

A provider returns :class:`Sent` or raises one of the exceptions below; anything else it
raises is treated as a transient failure (see :func:`alertflow.delivery.deliverer.classify`), so an
unexpected bug in a provider delays a message instead of losing it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .message import Device

# The most of an error's text kept: enough for any provider's reason, while a peer's reply
# body (a tenant's webhook URL may point anywhere) cannot be copied out through
# ``attempts[].error``, which every member of the tenant reads.
MAX_ERROR_CHARS = 200


def clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


@dataclass(frozen=True)
class Sent:
    """The provider accepted the message."""

    provider_message_id: str | None = None
    # Some channels know at once that the message arrived (an in-app item written to the inbox).
    delivered: bool = False
    # Devices the provider found to be gone (unregistered token, expired subscription):
    # the core removes them from the user and records the removal.
    pruned: tuple[Device, ...] = ()


@dataclass(frozen=True)
class Receipt:
    """A provider's later word on a message it accepted (a status callback)."""

    status: str  # "delivered", "undelivered" or "failed"; anything else is ignored
    error: str | None = None
    # The message the callback is about, as the provider named it when it accepted the send
    # (Twilio's MessageSid): the core refuses a callback about another message.
    provider_message_id: str | None = None


class DeliveryError(Exception):
    """Base of every outcome that is not :class:`Sent`."""

    def __init__(self, error: str, pruned: tuple[Device, ...] = ()) -> None:
        error = clip(error)
        super().__init__(error)
        self.error = error
        self.pruned = pruned


class RetryLater(DeliveryError):
    """A transient failure: try again after backoff (or after ``after`` seconds, if given)."""

    def __init__(self, error: str, after: float | None = None, pruned: tuple[Device, ...] = ()) -> None:
        super().__init__(error, pruned)
        self.after = after


class RateLimited(RetryLater):
    """The provider asked us to slow down; ``after`` is its Retry-After, when it sent one."""


class Deferred(RetryLater):
    """Nothing was tried: every provider's circuit is open, or our own send-rate limit holds
    the send back. The delivery waits ``after`` seconds and the attempt does not count, so
    an outage cannot spend a delivery's retries (issue 13). The core's own outcome: a
    provider never raises it."""


class PermanentFailure(DeliveryError):
    """The message can never be delivered as it is (bad address, rejected content)."""


class Suppressed(DeliveryError):
    """Nothing was tried: the address was put on the tenant's suppression list (a bounce,
    a complaint) after the delivery was queued. The core's own outcome: a provider never
    raises it."""


class InvalidReceipt(Exception):
    """A status callback whose signature does not verify: answered 403, nothing changes."""


def combine_device_outcomes(outcomes: Sequence[Sent | DeliveryError]) -> Sent:
    """Fold per-device outcomes into the delivery's outcome, carrying every pruned device.

    Providers use it across a recipient's devices, and the core across device kinds (FCM
    tokens and browser subscriptions go to different providers). One device reached is
    enough to call the delivery sent: retrying it would show the
    notification again on the devices that already have it. With none reached, a transient
    failure wins over a permanent one so a device that may still work gets another try.
    """
    pruned: tuple[Device, ...] = tuple(d for o in outcomes for d in o.pruned)
    sent = [o for o in outcomes if isinstance(o, Sent)]
    if sent:
        ids = [o.provider_message_id for o in sent if o.provider_message_id]
        return Sent(provider_message_id=",".join(ids) or None, pruned=pruned)
    failures = [o for o in outcomes if isinstance(o, DeliveryError)]
    if not failures:
        raise PermanentFailure("no device to send to")
    error = "; ".join(dict.fromkeys(f.error for f in failures))  # distinct, in order
    transient = [f for f in failures if isinstance(f, RetryLater)]
    if transient:
        afters = [f.after for f in transient if f.after is not None]
        after = max(afters) if afters else None
        if any(isinstance(f, RateLimited) for f in transient):
            raise RateLimited(error, after=after, pruned=pruned)
        raise RetryLater(error, after=after, pruned=pruned)
    raise PermanentFailure(error, pruned=pruned)
