"""Status events for a tenant's webhook endpoints, recorded in the transaction of the change
they report (README "Status webhooks").

Each state-change site makes one call inside its ``database.write``: :func:`attempted` for a
send's recorded outcome (the deliverer), :func:`delivery_changed` (or
:func:`deliveries_changed`) for a delivery's new status reached another way (a receipt, an
inbox read, a suppression at publish), :func:`batch_fanned_out` when a fan-out ends, and
:func:`record` / :func:`record_each` for anything else. For each enabled endpoint that
takes the event type it stores a notification with one delivery on the internal ``status``
channel and its job, so the event is committed with the change or not at all, and goes out
through the queue like any message: leases, retries with backoff, the dead-letter queue.
The built-in ``status_webhooks`` provider signs and POSTs it.

A tenant with no endpoint pays one cache lookup: which event types its endpoints take is
kept per tenant, dropped when a webhook is written (``Cache.WEBHOOKS``) and after
``SUBSCRIPTION_TTL_SECONDS`` at most (a change another node made).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import Any, Literal, get_args

from ..cache import Lru
from ..ids import new_id
from ..message import STATUS_CHANNEL
from ..storage import notifications, status_payloads, webhook_endpoints
from ..storage.database import Tx
from ..timefmt import iso
from .queue import PRIORITIES, READY
from .tracking import UNSENT, attempt_shape, batch_shape, delivery_shape

EventType = Literal[
    "delivery.sent",
    "delivery.delivered",
    "delivery.failed",
    "delivery.dead",
    "delivery.suppressed",
    "batch.completed",
    "inbox.read",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
# What POST /v1/webhooks/{id}/test sends: to that endpoint alone, subscribed or not.
TEST_EVENT = "webhook.test"
# A delivery's status -> the event it makes; other statuses (queued, sending...) make none.
DELIVERY_EVENTS = {s: f"delivery.{s}" for s in ("sent", "delivered", "failed", "dead", "suppressed")}
# How long a node trusts what it read of a tenant's endpoints: bounds how long a webhook
# written on another node (or by the CLI) goes unseen here; this node's own writes drop it.
SUBSCRIPTION_TTL_SECONDS = 10.0
# Tenants whose endpoints are kept: one small entry each, for those that changed state lately.
SUBSCRIPTION_ENTRIES = 10000
# Status events are neither urgent nor bulk.
EVENT_PRIORITY = "medium"
EVENT_CATEGORY = "default"

Subscriptions = dict[str, tuple[str, ...]]  # endpoint id -> the event types it takes
_cache: Lru[str, tuple[float, Subscriptions]] = Lru(SUBSCRIPTION_ENTRIES)


def forget(tenant_id: str) -> None:
    """Drop what is known of the tenant's endpoints (``Cache.WEBHOOKS``'s handler)."""
    _cache.drop(tenant_id)


def _subscriptions(tx: Tx, tenant_id: str) -> Subscriptions:
    now = time.monotonic()
    cached = _cache.get(tenant_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    found = webhook_endpoints.subscribed(tx, tenant_id)
    _cache.put(tenant_id, (now + SUBSCRIPTION_TTL_SECONDS, found))
    return found


def body(event_type: str, data: dict[str, Any], now: float) -> dict[str, Any]:
    """What the event carries: ``{"type", "timestamp", "data"}``, Standard Webhooks' payload."""
    return {"type": event_type, "timestamp": iso(now), "data": data}


def record(tx: Tx, tenant_id: str, event_type: str, data: Callable[[], dict[str, Any] | None], now: float) -> None:
    """Queue ``event_type`` for each of the tenant's endpoints that takes it, in ``tx``.

    ``data`` builds the payload (the object as the API shows it); it is called only when an
    endpoint takes the event, and None from it means there is nothing to report.
    """
    endpoints = _endpoints(tx, tenant_id, event_type)
    if endpoints:
        payload = data()
        if payload is not None:
            enqueue(tx, tenant_id, endpoints, event_type, payload, now)


def record_each(
    tx: Tx, tenant_id: str, event_type: str, data: Callable[[], Iterable[dict[str, Any]]], now: float
) -> None:
    """:func:`record` of one event per object ``data`` builds (called only when wanted)."""
    endpoints = _endpoints(tx, tenant_id, event_type)
    if endpoints:
        for payload in data():
            enqueue(tx, tenant_id, endpoints, event_type, payload, now)


def _endpoints(tx: Tx, tenant_id: str, event_type: str) -> list[str]:
    subscriptions = _subscriptions(tx, tenant_id)
    if not subscriptions:  # the hot path of every tenant without endpoints
        return []
    return [e for e, types in subscriptions.items() if event_type in types]


def delivery_changed(tx: Tx, tenant_id: str, delivery_id: str, status: str, now: float, channel: str = "") -> None:
    """A delivery reached ``status``: its ``delivery.*`` event, if the status makes one.

    The one call other parts make for a delivery's change, in the transaction that writes it.
    A status event's own delivery (``channel`` ``status``) reports nothing: that would loop.
    """
    event_type = DELIVERY_EVENTS.get(status)
    if event_type is None or channel == STATUS_CHANNEL:
        return
    record(tx, tenant_id, event_type, lambda: _delivery(tx, delivery_id), now)


def attempted(tx: Tx, tenant_id: str, delivery_id: str, status: str, now: float, channel: str) -> None:
    """A send attempt's outcome was recorded: :func:`delivery_changed`, and ``batch.completed``
    when it was the last of its batch still to go. Only a send moves a delivery out of the
    queue once its batch has fanned out, so each batch completes here (or in
    :func:`batch_fanned_out`) once."""
    if channel == STATUS_CHANNEL or not _subscriptions(tx, tenant_id):  # the hot path: one lookup
        return
    delivery_changed(tx, tenant_id, delivery_id, status, now, channel)
    if status in DELIVERY_EVENTS and _endpoints(tx, tenant_id, "batch.completed"):
        batch_id = status_payloads.batch_of(tx, delivery_id)
        if batch_id is not None:
            batch_fanned_out(tx, tenant_id, batch_id, now)


def batch_fanned_out(tx: Tx, tenant_id: str, batch_id: str, now: float) -> None:
    """``batch.completed`` if the batch has fanned out and nothing of it is left to send."""

    def completed() -> dict[str, Any] | None:
        found = status_payloads.finished_batch(tx, batch_id, UNSENT)
        return None if found is None else batch_shape(*found)

    record(tx, tenant_id, "batch.completed", completed, now)


def deliveries_changed(tx: Tx, tenant_id: str, delivery_ids: Iterable[str], status: str, now: float) -> None:
    """:func:`delivery_changed` for several deliveries of one tenant reaching one status."""
    if not _subscriptions(tx, tenant_id):
        return
    for delivery_id in delivery_ids:
        delivery_changed(tx, tenant_id, delivery_id, status, now)


def _delivery(tx: Tx, delivery_id: str) -> dict[str, Any] | None:
    found = status_payloads.delivery(tx, delivery_id)
    if found is None:
        return None
    row, events = found
    if row["channel"] == STATUS_CHANNEL:
        return None
    shaped = delivery_shape(row, [attempt_shape(e) for e in events])
    # Which notification (and batch) it belongs to: the receiver's way back to what it sent.
    return {**shaped, "notification_id": row["notification_id"], "batch_id": row["batch_id"]}


def enqueue(
    tx: Tx, tenant_id: str, endpoint_ids: list[str], event_type: str, data: dict[str, Any], now: float
) -> list[str]:
    """Store one status message per endpoint, ready to send; returns their delivery ids."""
    rows_n, rows_d, rows_j, ids = [], [], [], []
    priority = PRIORITIES[EVENT_PRIORITY]
    for endpoint_id in endpoint_ids:
        event_id, notification_id, delivery_id = new_id("msg"), new_id("ntf"), new_id("dlv")
        content = {"endpoint_id": endpoint_id, "event_id": event_id, "event": body(event_type, data, now)}
        recipient = json.dumps({"webhook_id": endpoint_id})
        rows_n.append(
            (
                notification_id,
                tenant_id,
                None,
                EVENT_CATEGORY,
                EVENT_PRIORITY,
                now,
                None,
                recipient,
                json.dumps(content),
                None,
                None,
                "{}",
                None,  # batch
                None,  # send options
            )
        )
        rows_d.append((delivery_id, notification_id, tenant_id, STATUS_CHANNEL, "queued", None, now, now, None))
        rows_j.append((delivery_id, tenant_id, STATUS_CHANNEL, priority, READY, now))
        ids.append(delivery_id)
    notifications.insert(tx, rows_n, rows_d, rows_j)
    return ids
