"""The closed set of outcomes a provider can report for one send.

A provider returns :class:`Sent` or raises one of the exceptions below; anything else it
raises is treated as a transient failure (see :func:`alertflow.delivery.classify`), so an
unexpected bug in a provider delays a message instead of losing it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .message import Device


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


class DeliveryError(Exception):
    """Base of every outcome that is not :class:`Sent`."""

    def __init__(self, error: str, pruned: tuple[Device, ...] = ()) -> None:
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


class PermanentFailure(DeliveryError):
    """The message can never be delivered as it is (bad address, rejected content)."""


class InvalidReceipt(Exception):
    """A status callback whose signature does not verify: answered 403, nothing changes."""
