"""The outbox's captures, read by delivery for a notification's detail: the last capture of
each delivery, and only the tenant's own; one capture by id, for its preview."""

from __future__ import annotations

from alertflow.storage import outbox_messages
from alertflow.storage.database import Database


def captured(tenant_id: str, delivery_id: str, content: str) -> outbox_messages.Captured:
    return outbox_messages.Captured(tenant_id, delivery_id, "ntf_1", "sms", '{"phone": "+1555"}', content, 1.0)


async def test_each_delivery_reads_back_as_its_last_capture_and_only_for_its_tenant(database: Database) -> None:
    for message in (
        captured("t1", "dlv_a", '{"body": "first try"}'),
        captured("t1", "dlv_a", '{"body": "sent again after a replay"}'),
        captured("t1", "dlv_b", '{"body": "b"}'),
        captured("t2", "dlv_c", '{"body": "another tenant"}'),
    ):
        await database.write(lambda tx, m=message: outbox_messages.add(tx, m))
    found = await outbox_messages.of_deliveries(database, "t1", ["dlv_a", "dlv_b", "dlv_c", "dlv_none"])
    assert found == {"dlv_a": '{"body": "sent again after a replay"}', "dlv_b": '{"body": "b"}'}
    assert await outbox_messages.of_deliveries(database, "t1", []) == {}


async def test_one_capture_reads_back_by_id_only_for_its_own_tenant(database: Database) -> None:
    mine = await database.write(lambda tx: outbox_messages.add(tx, captured("t1", "dlv_a", '{"body": "mine"}')))
    theirs = await database.write(lambda tx: outbox_messages.add(tx, captured("t2", "dlv_b", '{"body": "theirs"}')))
    found = await outbox_messages.one(database, "t1", mine)
    assert found is not None and found["content"] == '{"body": "mine"}' and found["delivery_id"] == "dlv_a"
    assert await outbox_messages.one(database, "t1", theirs) is None
    assert await outbox_messages.one(database, "t1", theirs + 1) is None
