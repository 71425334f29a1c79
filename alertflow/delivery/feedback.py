"""What providers report after a send (SES through SNS, SendGrid's Event Webhook), applied:
a hard bounce or a complaint puts the address on the tenant's suppression list, a bounce
fails the delivery, a delivery event marks it delivered.

Reports name the provider's message (the id recorded from the SMTP server's reply, or our
Message-ID), never our delivery; each report is applied once (receipt_endpoints.first_seen)
in the same transaction as its effects, so a replayed report changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ..outcomes import clip
from ..recipients import suppression_list
from ..storage import deliveries, receipt_endpoints, suppressions
from ..storage.database import Tx
from . import status_events

log = logging.getLogger("alertflow.receipts")

Kind = Literal["delivered", "bounce", "soft_bounce", "complaint", "dropped"]
# What each kind does to the delivery it names: its new status (a receipt only moves a sent
# delivery on: deliveries.apply_receipt), None to only record the report on it.
STATUS: dict[str, str | None] = {
    "delivered": "delivered",
    "bounce": "failed",
    "soft_bounce": "failed",
    "dropped": "failed",
    "complaint": None,
}
# Which kinds put the address on the suppression list, under which reason.
SUPPRESSES = {"bounce": "bounce", "complaint": "complaint"}


@dataclass(frozen=True)
class Report:
    """One thing a provider reports about one message it accepted."""

    kind: Kind
    report_id: str  # the provider's id of this report (SNS MessageId, sg_event_id): applied once
    message_ids: tuple[str, ...]  # every id the provider may name the message by
    addresses: tuple[str, ...] = ()  # the email addresses it concerns
    detail: str | None = None


@dataclass
class Applied:
    """What reports changed: deliveries moved (id, status), addresses newly listed or restated."""

    moved: list[tuple[str, str]] = field(default_factory=list)
    listed: int = 0
    replayed: int = 0


def apply(
    tx: Tx, tenant_id: str, provider: str, reports: Sequence[Report], now: float, forget_before: float
) -> Applied:
    """Apply the reports not applied before (writer function, one transaction)."""
    out = Applied()
    fresh = set(receipt_endpoints.first_seen(tx, provider, [r.report_id for r in reports], now, forget_before))
    for report in reports:
        if report.report_id not in fresh:
            out.replayed += 1
            continue
        fresh.discard(report.report_id)  # a report repeated within one request counts once
        detail = None if report.detail is None else clip(report.detail)
        why = SUPPRESSES.get(report.kind)
        if why is not None:
            for address in report.addresses:
                try:
                    normalised = suppression_list.normalise("email", address)
                except ValueError:
                    continue  # a provider's odd address: nothing to list
                suppressions.put(tx, tenant_id, "email", normalised, why, detail, now)
                out.listed += 1
        status = STATUS[report.kind]
        event = "receipt:" + report.kind
        for delivery_id in deliveries.with_provider_message_ids(tx, tenant_id, report.message_ids):
            if status is None:
                deliveries.add_events(tx, delivery_id, now, [(event, detail, provider)])
                continue
            reason = None if status == "delivered" else f"{report.kind}: {detail or 'reported by ' + provider}"
            if deliveries.apply_receipt(tx, delivery_id, status, reason, event, detail, provider, now):
                status_events.delivery_changed(tx, tenant_id, delivery_id, status, now)
                out.moved.append((delivery_id, status))
    return out


def announce(tenant_id: str, provider: str, applied: Applied) -> None:
    """After the commit: one log line per delivery moved."""
    for delivery_id, status in applied.moved:
        log.info(
            status,
            extra={
                "event": "delivery." + status,
                "tenant_id": tenant_id,
                "delivery_id": delivery_id,
                "provider": provider,
            },
        )
