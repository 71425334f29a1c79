"""One push message to several devices of a recipient, reported as one outcome."""

from __future__ import annotations

from collections.abc import Sequence

from alertflow.message import Device
from alertflow.outcomes import DeliveryError, PermanentFailure, RateLimited, RetryLater, Sent


def combine_device_outcomes(outcomes: Sequence[Sent | DeliveryError]) -> Sent:
    """Fold per-device outcomes into the delivery's outcome, carrying every pruned device.

    One device reached is enough to call the delivery sent: retrying it would show the
    notification again on the devices that already have it. With none reached, a transient
    failure wins over a permanent one so a device that may still work gets another try.
    """
    pruned: tuple[Device, ...] = tuple(
        d for o in outcomes if isinstance(o, DeliveryError) for d in o.pruned
    )
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
