"""Digest windows: which window an event may join, how many it holds, and closing it early."""

from __future__ import annotations

from typing import Any

from alertflow.delivery import queue
from alertflow.storage import digests, jobs, notifications
from alertflow.storage.database import Database, Tx

NOW = 1_000.0
WHO, KEY = "user:ann", "post42"


def notification(tenant_id: str, nid: str, data: str, channels: tuple[str, ...] = ()) -> tuple[Any, ...]:
    """A notification (in storage/notifications.py's column order) with waiting deliveries on ``channels``."""
    note = (
        nid,
        tenant_id,
        "ann",
        "default",
        "medium",
        NOW,
        None,
        '{"user_id": "ann"}',
        "{}",
        None,
        None,
        data,
        None,
        None,
    )
    deliveries = [(f"dlv_{nid}_{c}", nid, tenant_id, c, "scheduled", None, NOW, NOW, None) for c in channels]
    waiting = [(f"dlv_{nid}_{c}", tenant_id, c, 1, queue.WAITING, NOW + 600) for c in channels]
    return [note], deliveries, waiting


async def opened(database: Database, tenant_id: str, max_events: int = 3) -> digests.Window:
    def store(tx: Tx) -> digests.Window:
        notifications.insert(tx, *notification(tenant_id, "ntf_digest", "{}", ("email",)))
        return digests.open_window(tx, tenant_id, WHO, KEY, "ntf_digest", NOW, NOW + 600, max_events)

    return await database.write(store)


async def add(database: Database, tenant_id: str, window: digests.Window, nid: str, n: int) -> int:
    def store(tx: Tx) -> int:
        notifications.insert(tx, *notification(tenant_id, nid, f'{{"n": {n}}}'))
        return digests.add_event(tx, tenant_id, WHO, KEY, window, nid)

    return await database.write(store)


async def joinable(database: Database, tenant_id: str, now: float, key: str = KEY) -> digests.Window | None:
    return await database.write(lambda tx: digests.joinable(tx, tenant_id, WHO, key, now))


async def test_events_join_an_open_window_and_are_read_back_oldest_first(database: Database, tenant_id: str) -> None:
    window = await opened(database, tenant_id)
    assert [await add(database, tenant_id, window, f"ntf_e{i}", i) for i in range(2)] == [1, 2]
    assert await joinable(database, tenant_id, NOW + 1) == digests.Window("ntf_digest", 2, 3)
    assert await digests.events(database, "ntf_digest") == [{"n": 0}, {"n": 1}]
    assert await digests.size(database, "ntf_digest") == 2
    assert await digests.size(database, "ntf_none") == 0


async def test_a_window_is_not_joinable_once_closed_full_or_sending(database: Database, tenant_id: str) -> None:
    assert await joinable(database, tenant_id, NOW) is None  # none opened
    window = await opened(database, tenant_id, max_events=2)
    assert await joinable(database, tenant_id, NOW + 600) is None  # its time is up
    assert await joinable(database, tenant_id, NOW, key="other") is None
    await add(database, tenant_id, window, "ntf_e0", 0)
    claimed = await database.write(lambda tx: jobs.promote_due(tx, NOW + 600))
    assert claimed == {"email": 1}  # the timer made the digest ready: no event joins it now
    assert await joinable(database, tenant_id, NOW + 1) is None


async def test_closing_a_full_window_makes_its_digest_ready_at_once(database: Database, tenant_id: str) -> None:
    window = await opened(database, tenant_id, max_events=2)
    await add(database, tenant_id, window, "ntf_e0", 0)
    assert await add(database, tenant_id, window, "ntf_e1", 1) == 2
    channels = await database.write(lambda tx: digests.close_now(tx, window.id, NOW + 5))
    assert channels == {"email"}
    claimed = await database.write(lambda tx: jobs.claim(tx, "email", 10, NOW + 5, 30.0))
    assert [j.notification_id for j in claimed] == ["ntf_digest"]
    assert await joinable(database, tenant_id, NOW + 6) is None


async def test_a_new_window_replaces_the_last_one_and_keeps_their_events_apart(
    database: Database, tenant_id: str
) -> None:
    first = await opened(database, tenant_id)
    await add(database, tenant_id, first, "ntf_e0", 0)

    def reopen(tx: Tx) -> digests.Window:
        notifications.insert(tx, *notification(tenant_id, "ntf_digest2", "{}", ("email",)))
        return digests.open_window(tx, tenant_id, WHO, KEY, "ntf_digest2", NOW + 700, NOW + 1300, 3)

    second = await database.write(reopen)
    assert await add(database, tenant_id, second, "ntf_e1", 1) == 1
    assert await digests.events(database, "ntf_digest") == [{"n": 0}]
    assert await digests.events(database, "ntf_digest2") == [{"n": 1}]
