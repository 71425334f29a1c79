"""A publish's rows (notifications, deliveries, jobs) stored in one write."""

from __future__ import annotations

from typing import Any

import pytest

from alertflow.delivery import queue
from alertflow.storage import bulk_batches, notifications
from alertflow.storage.database import Database, Tx
from alertflow.tenants import create_tenant

NOW = 1_000.0


def planned(tenant_id: str, batch_id: str, count: int, prefix: str = "") -> tuple[list[Any], list[Any], list[Any]]:
    """``count`` email notifications of the batch, each with a queued delivery and its job,
    as publish.plan lays them out (the column order of storage/notifications.py)."""
    notes, deliveries, jobs = [], [], []
    for i in range(count):
        nid, did = f"ntf_{prefix}{i}", f"dlv_{prefix}{i}"
        recipient = f'{{"email": "u{i}@example.com"}}'
        notes.append(
            (nid, tenant_id, None, "default", "low", NOW, None, recipient, "{}", None, None, "{}", batch_id, None)
        )
        deliveries.append((did, nid, tenant_id, "email", "queued", None, NOW, NOW, batch_id))
        jobs.append((did, tenant_id, "email", queue.PRIORITIES["low"], queue.READY, NOW))
    return notes, deliveries, jobs


async def a_batch(database: Database) -> tuple[str, str]:
    def store(tx: Tx) -> tuple[str, str]:
        tenant_id, _ = create_tenant(tx, "acme")
        batch_id, _, _ = bulk_batches.insert(tx, "bat_1", tenant_id, "{}", None, 0, [], None, NOW)
        return tenant_id, batch_id

    return await database.write(store)


async def test_a_stored_publish_is_read_back_as_its_deliveries(database: Database) -> None:
    tenant_id, batch_id = await a_batch(database)
    rows = planned(tenant_id, batch_id, 3)
    await database.write(lambda tx: notifications.insert(tx, *rows))
    assert await bulk_batches.delivery_counts(database, batch_id) == {"queued": 3}


async def test_more_rows_than_one_statement_binds_are_all_stored(database: Database) -> None:
    tenant_id, batch_id = await a_batch(database)
    # 4,000 deliveries of 9 columns bind more values than one statement may (32,766).
    rows = planned(tenant_id, batch_id, 4000)
    await database.write(lambda tx: notifications.insert(tx, *rows))
    assert await bulk_batches.delivery_counts(database, batch_id) == {"queued": 4000}


async def test_a_publish_whose_rows_cannot_all_be_stored_stores_none_of_them(database: Database) -> None:
    tenant_id, batch_id = await a_batch(database)
    notes, deliveries, jobs = planned(tenant_id, batch_id, 2)
    with pytest.raises(Exception, match=r"(?i)unique"):
        await database.write(lambda tx: notifications.insert(tx, notes, deliveries, jobs + jobs[:1]))
    assert await bulk_batches.delivery_counts(database, batch_id) == {}
