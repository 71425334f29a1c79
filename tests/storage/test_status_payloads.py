"""What a status webhook reports, read in the writer: a delivery with its attempts in order,
a fanned-out batch once nothing of it is left to send, the inbox items a read-all marked."""

from __future__ import annotations

import json

from alertflow.storage import bulk_batches, deliveries, inbox_items, notifications, status_payloads
from alertflow.storage.database import Database, Tx

UNSENT = ("scheduled", "queued", "sending")


def store_delivery(tx: Tx, tenant_id: str, delivery_id: str, status: str, batch_id: str | None = None) -> None:
    notification = (
        f"ntf_{delivery_id}",
        tenant_id,
        None,
        "default",
        "medium",
        1.0,
        None,
        "{}",
        None,
        None,
        None,
        "{}",
        batch_id,
        None,  # send options
    )
    delivery = (delivery_id, f"ntf_{delivery_id}", tenant_id, "email", status, None, 1.0, 1.0, batch_id)
    notifications.insert(tx, [notification], [delivery], [])


async def test_a_delivery_comes_with_its_attempts_in_the_order_they_happened(
    database: Database, tenant_id: str
) -> None:
    def write(tx: Tx) -> None:
        store_delivery(tx, tenant_id, "dlv_1", "sent")
        deliveries.add_events(tx, "dlv_1", 2.0, [("retry", "HTTP 500", "smtp"), ("sent", None, "smtp")])
        deliveries.add_events(tx, "dlv_1", 2.0, [("receipt:delivered", None, "smtp")])

    await database.write(write)
    found = await database.write(lambda tx: status_payloads.delivery(tx, "dlv_1"))
    assert found is not None
    row, events = found
    assert (row["id"], row["notification_id"], row["status"], row["channel"]) == ("dlv_1", "ntf_dlv_1", "sent", "email")
    assert [(e["outcome"], e["error"]) for e in events] == [
        ("retry", "HTTP 500"),
        ("sent", None),
        ("receipt:delivered", None),
    ]
    assert await database.write(lambda tx: status_payloads.delivery(tx, "dlv_gone")) is None


async def test_a_batch_is_finished_once_fanned_out_with_nothing_left_to_send(
    database: Database, tenant_id: str
) -> None:
    def write(tx: Tx) -> None:
        bulk_batches.insert(tx, "bat_1", tenant_id, '{"content": {}}', None, 2, [json.dumps([{}, {}])], None, 1.0)
        store_delivery(tx, tenant_id, "dlv_a", "sent", "bat_1")
        store_delivery(tx, tenant_id, "dlv_b", "sending", "bat_1")

    await database.write(write)
    assert await database.write(lambda tx: status_payloads.batch_of(tx, "dlv_a")) == "bat_1"
    assert await database.write(lambda tx: status_payloads.finished_batch(tx, "bat_1", UNSENT)) is None, "fanning out"
    await database.write(lambda tx: bulk_batches.finish(tx, "bat_1", None, 2.0))
    assert await database.write(lambda tx: status_payloads.finished_batch(tx, "bat_1", UNSENT)) is None, "one sending"
    await database.write(lambda tx: deliveries.set_outcome(tx, "dlv_b", "failed", "smtp", None, "550", 3.0))
    found = await database.write(lambda tx: status_payloads.finished_batch(tx, "bat_1", UNSENT))
    assert found is not None
    batch, counts = found
    assert (batch.id, batch.status, counts) == ("bat_1", bulk_batches.FANNED_OUT, {"sent": 1, "failed": 1})


async def test_the_items_a_read_all_marked_are_those_read_at_its_time(database: Database, tenant_id: str) -> None:
    def item(item_id: str) -> inbox_items.NewItem:
        return inbox_items.NewItem(item_id, tenant_id, "u1", "dlv_x", "ntf_x", item_id, None, None, {}, "default", 1.0)

    await database.write(lambda tx: [inbox_items.add(tx, item(i)) for i in ("inb_1", "inb_2", "inb_3")])
    await database.write(lambda tx: inbox_items.read(tx, tenant_id, "u1", "inb_1", 5.0))
    await database.write(lambda tx: inbox_items.read_all(tx, tenant_id, "u1", 7.0))
    read = await database.write(lambda tx: status_payloads.read_at(tx, tenant_id, "u1", 7.0))
    assert [i["id"] for i in read] == ["inb_2", "inb_3"]
    assert await database.write(lambda tx: status_payloads.read_at(tx, tenant_id, "u2", 7.0)) == []
