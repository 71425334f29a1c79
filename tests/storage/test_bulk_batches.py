"""Bulk batches: stored with their chunks, fanned out a cursor step at a time, cancelled, failed."""

from __future__ import annotations

import json

from alertflow.storage import bulk_batches
from alertflow.storage.bulk_batches import CANCELLED, CANCELLING, FAILED, FANNED_OUT, FANNING_OUT
from alertflow.storage.database import Database, Tx
from alertflow.tenants import create_tenant

NOW = 1_000.0
CHUNKS = [json.dumps([{"email": f"u{seq}-{i}@example.com"} for i in range(2)]) for seq in range(3)]


async def a_tenant(database: Database, name: str = "acme") -> str:
    def store(tx: Tx) -> str:
        return create_tenant(tx, name)[0]

    return await database.write(store)


async def a_batch(database: Database, tenant_id: str, dedupe_key: str | None = None, batch_id: str = "bat_1") -> str:
    found, _, _ = await database.write(
        lambda tx: bulk_batches.insert(tx, batch_id, tenant_id, '{"content": {}}', None, 6, CHUNKS, dedupe_key, NOW)
    )
    return found


async def test_a_stored_batch_is_read_back_fanning_out_from_the_start(database: Database) -> None:
    tenant_id = await a_tenant(database)
    batch_id = await a_batch(database, tenant_id)
    found = await bulk_batches.get(database, tenant_id, batch_id)
    assert found == bulk_batches.Batch(batch_id, tenant_id, 6, FANNING_OUT, 0, None, None, NOW)
    [unfinished] = await bulk_batches.unfinished(database, FANNING_OUT)
    assert (unfinished.id, unfinished.request, unfinished.cursor) == (batch_id, '{"content": {}}', None)


async def test_another_tenants_batch_is_not_found(database: Database) -> None:
    batch_id = await a_batch(database, await a_tenant(database))
    other = await a_tenant(database, "other")
    assert await bulk_batches.get(database, other, batch_id) is None
    assert await database.write(lambda tx: bulk_batches.begin_cancel(tx, other, batch_id, NOW)) is None


async def test_a_dedupe_key_used_before_returns_the_first_batch_and_stores_nothing(database: Database) -> None:
    tenant_id = await a_tenant(database)
    first = await a_batch(database, tenant_id, "schedule:s@t")
    again = await database.write(
        lambda tx: bulk_batches.insert(tx, "bat_2", tenant_id, "{}", None, 9, [], "schedule:s@t", NOW)
    )
    assert again == (first, 6, False)
    assert await bulk_batches.get(database, tenant_id, "bat_2") is None
    assert [b.id for b in await bulk_batches.unfinished(database, FANNING_OUT)] == [first]


async def test_the_fan_out_resumes_at_the_chunk_after_its_cursor(database: Database) -> None:
    tenant_id = await a_tenant(database)
    batch_id = await a_batch(database, tenant_id)
    first = await bulk_batches.chunk_after(database, tenant_id, batch_id, -1)
    assert first is not None and first.seq == 0 and first.recipients == json.loads(CHUNKS[0])
    assert first.users == {}  # addressed by email: no user records
    assert await database.write(lambda tx: bulk_batches.advance(tx, batch_id, None, "0", 2, NOW))
    [unfinished] = await bulk_batches.unfinished(database, FANNING_OUT)
    assert unfinished.cursor == "0"
    following = await bulk_batches.chunk_after(database, tenant_id, batch_id, int(unfinished.cursor))
    assert following is not None and following.seq == 1


async def test_a_step_from_a_cursor_the_batch_has_left_changes_nothing(database: Database) -> None:
    tenant_id = await a_tenant(database)
    batch_id = await a_batch(database, tenant_id)
    assert await database.write(lambda tx: bulk_batches.advance(tx, batch_id, None, "0", 2, NOW))
    assert not await database.write(lambda tx: bulk_batches.advance(tx, batch_id, None, "0", 2, NOW))
    assert not await database.write(lambda tx: bulk_batches.finish(tx, batch_id, None, NOW))
    found = await bulk_batches.get(database, tenant_id, batch_id)
    assert found is not None and (found.status, found.fanned_out) == (FANNING_OUT, 2)


async def test_a_finished_batch_counts_what_was_fanned_out_and_keeps_no_chunks(database: Database) -> None:
    tenant_id = await a_tenant(database)
    batch_id = await a_batch(database, tenant_id)
    assert await database.write(lambda tx: bulk_batches.advance(tx, batch_id, None, "0", 2, NOW))
    assert await database.write(lambda tx: bulk_batches.advance(tx, batch_id, "0", "1", 1, NOW))
    assert await database.write(lambda tx: bulk_batches.finish(tx, batch_id, "1", NOW + 1))
    found = await bulk_batches.get(database, tenant_id, batch_id)
    assert found is not None and (found.status, found.recipients, found.fanned_out) == (FANNED_OUT, 3, 3)
    assert await bulk_batches.chunk_after(database, tenant_id, batch_id, -1) is None
    assert await bulk_batches.unfinished(database, FANNING_OUT) == []


async def test_a_cancelled_batch_takes_no_more_steps_and_stays_cancelled(database: Database) -> None:
    tenant_id = await a_tenant(database)
    batch_id = await a_batch(database, tenant_id)
    assert await database.write(lambda tx: bulk_batches.begin_cancel(tx, tenant_id, batch_id, NOW)) == CANCELLING
    assert [b.id for b in await bulk_batches.unfinished(database, CANCELLING)] == [batch_id]
    assert not await database.write(lambda tx: bulk_batches.advance(tx, batch_id, None, "0", 2, NOW))
    await database.write(lambda tx: bulk_batches.cancelled(tx, batch_id, NOW))
    found = await bulk_batches.get(database, tenant_id, batch_id)
    assert found is not None and found.status == CANCELLED
    assert await bulk_batches.chunk_after(database, tenant_id, batch_id, -1) is None
    assert await bulk_batches.unfinished(database, CANCELLING) == []
    assert await database.write(lambda tx: bulk_batches.begin_cancel(tx, tenant_id, batch_id, NOW)) == CANCELLED


async def test_a_failed_batch_says_why_and_takes_no_more_steps(database: Database) -> None:
    tenant_id = await a_tenant(database)
    batch_id = await a_batch(database, tenant_id)
    await database.write(lambda tx: bulk_batches.fail(tx, batch_id, "template deleted", NOW))
    found = await bulk_batches.get(database, tenant_id, batch_id)
    assert found is not None and (found.status, found.error) == (FAILED, "template deleted")
    assert await bulk_batches.chunk_after(database, tenant_id, batch_id, -1) is None
    assert not await database.write(lambda tx: bulk_batches.advance(tx, batch_id, None, "0", 2, NOW))


async def test_a_tenants_batches_are_paged_newest_first_and_filtered_by_stored_status(database: Database) -> None:
    tenant_id, other = await a_tenant(database), await a_tenant(database, "globex")
    for batch_id in ("bat_1", "bat_2", "bat_3"):
        await a_batch(database, tenant_id, batch_id=batch_id)
    await a_batch(database, other, batch_id="bat_9")
    await database.write(lambda tx: bulk_batches.begin_cancel(tx, tenant_id, "bat_2", NOW))
    page = await bulk_batches.page(database, tenant_id, (), None, 2)
    assert [b.id for b in page] == ["bat_3", "bat_2"]
    assert [b.id for b in await bulk_batches.page(database, tenant_id, (), "bat_2", 2)] == ["bat_1"]
    fanning = await bulk_batches.page(database, tenant_id, (FANNING_OUT,), None, 10)
    assert [b.id for b in fanning] == ["bat_3", "bat_1"]
    both = await bulk_batches.page(database, tenant_id, (FANNING_OUT, CANCELLING), None, 10)
    assert [b.id for b in both] == ["bat_3", "bat_2", "bat_1"]
    assert page[1] == await bulk_batches.get(database, tenant_id, "bat_2")
