"""What the Overview's queue panel reads: a tenant's queued deliveries per channel and
priority, and its dead letters, never another tenant's."""

from __future__ import annotations

from alertflow.delivery.queue import Decision
from alertflow.storage import jobs, stats
from alertflow.storage.database import Database
from tests.storage.test_jobs import NOW, claim, publish


async def test_the_queue_is_counted_per_channel_and_priority_and_dead_letters_apart(database: Database) -> None:
    await publish(database, priority="high", count=2)
    await publish(database, priority="low")
    await publish(database, priority="medium", send_at=NOW + 3600)  # scheduled: it waits in the queue too
    await publish(database, "t2", priority="high", count=5)
    expected = {"email": {"high": 2, "medium": 1, "low": 1}}
    assert await stats.tenant_queue(database, "t1") == stats.TenantQueue(expected, 0)

    [first, second, *_] = await claim(database)  # being sent still counts
    assert (await stats.tenant_queue(database, "t1")).depth == expected
    await database.write(lambda tx: jobs.record(tx, first, Decision("dead", "dead", error="550"), NOW + 1))
    await database.write(lambda tx: jobs.record(tx, second, Decision("sent", "sent", provider="smtp"), NOW + 1))
    assert await stats.tenant_queue(database, "t1") == stats.TenantQueue({"email": {"medium": 1, "low": 1}}, 1)
    assert (await stats.tenant_queue(database, "t2")).dead == 0


async def test_a_tenant_with_nothing_queued_has_an_empty_depth(database: Database) -> None:
    await publish(database, "t2")
    assert await stats.tenant_queue(database, "t1") == stats.TenantQueue({}, 0)
