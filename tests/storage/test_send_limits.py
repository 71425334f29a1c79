"""Throttle and dedupe counters: a fixed window from its first event, per recipient and key."""

from __future__ import annotations

from alertflow.storage import send_limits
from alertflow.storage.database import Database


async def count(database: Database, tenant_id: str, now: float, who: str = "user:ann", key: str = "k") -> int:
    return await database.write(lambda tx: send_limits.count(tx, tenant_id, who, "throttle", key, 60, now))


async def test_events_count_up_inside_a_window_and_start_again_once_it_ends(database: Database, tenant_id: str) -> None:
    assert [await count(database, tenant_id, t) for t in (0.0, 10.0, 59.9)] == [1, 2, 3]
    assert await count(database, tenant_id, 60.0) == 1  # the window ran from 0.0
    assert await count(database, tenant_id, 119.9) == 2
    assert await count(database, tenant_id, 120.0) == 1


async def test_recipients_keys_and_kinds_count_apart(database: Database, tenant_id: str) -> None:
    await count(database, tenant_id, 0.0)
    assert await count(database, tenant_id, 1.0, who="user:bob") == 1
    assert await count(database, tenant_id, 1.0, key="other") == 1
    dedupe = await database.write(lambda tx: send_limits.count(tx, tenant_id, "user:ann", "dedupe", "k", 60, 1.0))
    assert dedupe == 1
    assert await count(database, tenant_id, 2.0) == 2
