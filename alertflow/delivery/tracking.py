"""The read side of notifications: one notification with its deliveries and attempts, or a page."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

from ..storage import deliveries as stored
from ..storage import digests, inbox_items, outbox_messages
from ..storage.bulk_batches import FANNED_OUT, Batch
from ..storage.database import Database
from ..templates import text
from ..timefmt import iso

# A notification's status is its least advanced pending delivery's, or else its best outcome.
_PENDING = ("sending", "queued", "scheduled")
# A fanned-out batch is "sending" while any of its deliveries is one of these.
UNSENT = ("scheduled", "queued", "sending")
_SETTLED = ("delivered", "sent", "digested", "failed", "dead", "suppressed", "cancelled")


def notification_status(statuses: list[str]) -> str:
    for status in _PENDING + _SETTLED:
        if status in statuses:
            return status
    return "queued"


async def _deliveries(db: Database, notification_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    if not notification_ids:
        return {}
    rows = await stored.of_notifications(db, notification_ids)
    attempts: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for a in await stored.events(db, [r["id"] for r in rows]):
        attempts[a["delivery_id"]].append(attempt_shape(a))
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[r["notification_id"]].append(delivery_shape(r, attempts.get(r["id"], [])))
    return out


def attempt_shape(a: Mapping[str, Any]) -> dict[str, Any]:
    return {"at": iso(a["at"]), "outcome": a["outcome"], "error": a["error"], "provider": a["provider"]}


def delivery_shape(r: Mapping[str, Any], attempts: list[dict[str, Any]]) -> dict[str, Any]:
    """A delivery as the API answers it (status webhooks send the same)."""
    return {
        "id": r["id"],
        "channel": r["channel"],
        "status": r["status"],
        "provider": r["provider"],
        "provider_message_id": r["provider_message_id"],
        "attempts": attempts,
        "sent_at": iso(r["sent_at"]),
        "delivered_at": iso(r["delivered_at"]),
        "reason": r["reason"],
    }


def _shape(row: dict[str, Any], deliveries: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "status": notification_status([d["status"] for d in deliveries]),
        "category": row["category"],
        "priority": row["priority"],
        "created_at": iso(row["created_at"]),
        "send_at": iso(row["send_at"]),
        "recipient": json.loads(row["recipient"]),
        "template": row["template"],
        "template_version": row["template_version"],
        "batch_id": row["batch_id"],
        "options": json.loads(row["options"]) if row["options"] else None,
        "deliveries": deliveries,
    }


async def get(db: Database, tenant_id: str, notification_id: str) -> dict[str, Any] | None:
    row = await stored.notification(db, tenant_id, notification_id)
    if row is None:
        return None
    found = _shape(row, (await _deliveries(db, [row["id"]])).get(row["id"], []))
    await _add_rendered(db, tenant_id, found["deliveries"])
    if found["options"] and "digest_of" in found["options"]:  # a digest says what it collected
        found["digest"] = {"key": found["options"]["digest_of"], "events": await digests.size(db, row["id"])}
    return found


async def _add_rendered(db: Database, tenant_id: str, deliveries: list[dict[str, Any]]) -> None:
    """Each delivery's ``rendered``: what was sent, where AlertFlow kept a copy (the built-in
    outbox's capture, the in-app item), else None: other providers' messages are rendered at
    send time and not stored. An SMS also says how it travelled, as a template preview does."""
    ids = [d["id"] for d in deliveries]
    captured = await outbox_messages.of_deliveries(db, tenant_id, ids)
    in_inboxes = await inbox_items.of_deliveries(db, tenant_id, ids)
    for d in deliveries:
        rendered = json.loads(captured[d["id"]]) if d["id"] in captured else in_inboxes.get(d["id"])
        if rendered is not None and d["channel"] == "sms" and isinstance(rendered.get("body"), str):
            rendered["info"] = text.sms_info(rendered["body"])
        d["rendered"] = rendered


async def page(
    db: Database, tenant_id: str, filters: dict[str, Any], limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first; ``cursor`` is the last id of the previous page."""
    rows = await stored.notifications_page(db, tenant_id, filters, limit + 1, cursor)
    more = len(rows) > limit
    rows = rows[:limit]
    deliveries = await _deliveries(db, [r["id"] for r in rows])
    items = [_shape(r, deliveries.get(r["id"], [])) for r in rows]
    return items, (rows[-1]["id"] if more and rows else None)


def batch_shape(found: Batch, counts: dict[str, int]) -> dict[str, Any]:
    """A bulk batch as the API answers it (status webhooks send the same)."""
    status = found.status
    if status == FANNED_OUT:
        status = "sending" if any(counts.get(s) for s in UNSENT) else "completed"
    return {
        "batch_id": found.id,
        "recipients": found.recipients,
        "status": status,
        "counts": counts,
        "fanned_out": found.fanned_out,
        "topic": found.topic,
        "error": found.error,
        "created_at": iso(found.created_at),
    }
