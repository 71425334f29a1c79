"""The cluster coordinator on a real PostgreSQL: each signal runs this node's handlers at
once and reaches every other node's over LISTEN/NOTIFY, bursts coalesce, payloads stay under
PostgreSQL's limit, a node cut off from the database resyncs when it is back, and the publish
rate limit's buckets are shared within the stated tolerance."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from alertflow.cluster import WAKE_SPACING_SECONDS, ClusterCoordinator, SharedBuckets, chunk_size, payloads
from alertflow.coordination import Cache, Limit
from alertflow.message import CHANNELS
from alertflow.storage.database import Database, SQLiteDatabase
from alertflow.storage.listen_notify import MAX_PAYLOAD_BYTES
from alertflow.storage.postgres import PostgresDatabase
from tests.conftest import FakeClock
from tests.postgres import PostgresServer
from tests.process import WAIT_SECONDS


class Heard:
    """Every handler of one node, recording what it was called with."""

    def __init__(self, node: ClusterCoordinator) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.changed = asyncio.Event()
        node.on_jobs_ready(lambda channels: self._add("jobs_ready", frozenset(channels)))
        node.on_jobs_waiting(lambda: self._add("jobs_waiting"))
        node.on_batches_waiting(lambda: self._add("batches_waiting"))
        node.on_inbox_item(lambda *args: self._add("inbox_item", *args))
        node.on_inbox_changed(lambda *args: self._add("inbox_changed", *args))
        node.on_invalidate(Cache.CHANNELS, lambda key: self._add("invalidate", key))
        node.on_schedule_changed(lambda *args: self._add("schedule_changed", *args))
        node.on_user_erased(lambda *args: self._add("user_erased", *args))
        node.on_resync(lambda: self._add("resync"))

    def _add(self, *call: Any) -> None:
        self.calls.append(call)
        self.changed.set()

    async def until(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(WAIT_SECONDS):
            while not predicate():
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
async def sqlite(tmp_path: Path) -> AsyncIterator[Database]:
    """The storage the buckets of the signal tests would use (they take no token)."""
    db = SQLiteDatabase(tmp_path / "unused.db")
    await db.open()
    yield db
    await db.close()


@contextlib.asynccontextmanager
async def listening(url: str, sqlite: Database, *wake_spacings: float) -> AsyncIterator[list[ClusterCoordinator]]:
    """A listening node on one database per wake-up spacing given, stopped after."""
    started = [ClusterCoordinator(url, None, sqlite, FakeClock(0.0).now, spacing) for spacing in wake_spacings]
    try:
        for node, name in zip(started, ("node-a", "node-b"), strict=True):
            await node.start(name)
        for node in started:
            await asyncio.wait_for(node.link.listening.wait(), WAIT_SECONDS)
        yield started
    finally:
        for node in started:
            await node.stop()


@pytest.fixture
async def nodes(postgres_url: str, sqlite: Database) -> AsyncIterator[list[ClusterCoordinator]]:
    """Two listening nodes on one database."""
    async with listening(postgres_url, sqlite, WAKE_SPACING_SECONDS, WAKE_SPACING_SECONDS) as started:
        yield started


EVERY_SIGNAL: list[tuple[Any, ...]] = [
    ("jobs_ready", frozenset({"email", "inapp"})),
    ("jobs_waiting",),
    ("batches_waiting",),
    ("inbox_item", "ten_1", "u1", "itm_1"),
    ("inbox_changed", "ten_1", "u1", {"type": "read", "id": "itm_1"}),
    ("invalidate", ("ten_1", "email")),
    ("schedule_changed", "sch_1", "0 9 * * 1", "Europe/Paris"),
    ("schedule_changed", "sch_1", None, None),
    ("user_erased", "ten_1", "u1"),
]


def signal(node: ClusterCoordinator, call: tuple[Any, ...]) -> None:
    name, *args = call
    if name == "invalidate":
        node.invalidate(Cache.CHANNELS, args[0])
    else:
        getattr(node, name)(*args)


async def test_every_signal_runs_here_at_once_and_reaches_the_other_node_once(
    nodes: list[ClusterCoordinator],
) -> None:
    a, b = nodes
    here, there = Heard(a), Heard(b)
    for call in EVERY_SIGNAL:
        signal(a, call)
        assert here.calls[-1] == call, "the local handlers run in the caller's call"
    await there.until(lambda: len(there.calls) >= len(EVERY_SIGNAL))
    # The coalesced ones come first in a send; the rest keep their order.
    assert sorted(map(repr, there.calls)) == sorted(map(repr, EVERY_SIGNAL))
    assert [c for c in there.calls if c[0] not in ("jobs_ready", "jobs_waiting", "batches_waiting")] == [
        c for c in EVERY_SIGNAL if c[0] not in ("jobs_ready", "jobs_waiting", "batches_waiting")
    ]
    # A's own echo came back to it too, and was skipped: one more signal from B proves A
    # heard everything before it.
    b.user_erased("ten_1", "u2")
    await here.until(lambda: here.calls[-1] == ("user_erased", "ten_1", "u2"))
    assert here.calls == [*EVERY_SIGNAL, ("user_erased", "ten_1", "u2")], "nothing twice"


async def test_a_burst_of_wake_ups_crosses_as_one_signal(nodes: list[ClusterCoordinator]) -> None:
    a, b = nodes
    there = Heard(b)
    for i in range(1000):  # one loop turn: a publish storm between two sends
        a.jobs_ready([CHANNELS[i % len(CHANNELS)]])
        a.jobs_waiting()
    await there.until(lambda: ("jobs_waiting",) in there.calls)
    woken = frozenset().union(*(c[1] for c in there.calls if c[0] == "jobs_ready"))
    assert woken == frozenset(CHANNELS)
    assert a.sent["jobs_ready"] <= 2 and b.heard["jobs_ready"] <= 2, (a.sent, b.heard)


async def test_under_load_wake_ups_wait_their_spacing_and_other_signals_do_not(
    postgres_url: str, sqlite: Database
) -> None:
    """A wake-up right after a send waits (here for an hour) to go with the next ones, so a
    node publishing flat out sends a few NOTIFYs a second, not one per commit; an inbox item
    goes at once, and takes the waiting wake-up with it."""
    async with listening(postgres_url, sqlite, 3600, WAKE_SPACING_SECONDS) as (a, b):
        here, there = Heard(a), Heard(b)
        a.jobs_ready(["email"])  # the first after a quiet spell: at once
        await there.until(lambda: ("jobs_ready", frozenset({"email"})) in there.calls)
        a.jobs_ready(["sms"])
        b.user_erased("ten_1", "probe")  # a round trip through the database and back to A
        await here.until(lambda: ("user_erased", "ten_1", "probe") in here.calls)
        await asyncio.sleep(0.1)  # time enough for a send that did not wait
        assert a.sent["jobs_ready"] == 1 and ("jobs_ready", frozenset({"sms"})) not in there.calls
        a.inbox_item("ten_1", "u1", "itm_1")
        await there.until(lambda: ("inbox_item", "ten_1", "u1", "itm_1") in there.calls)
        assert ("jobs_ready", frozenset({"sms"})) in there.calls, "the waiting wake-up went with it"


def test_payloads_stay_under_postgresqls_limit_and_keep_every_signal_in_order() -> None:
    signals: list[list[Any]] = [["invalidate", "settings", ["ten_1", "x" * 100 + str(i)]] for i in range(500)]
    sent = payloads("node-a", signals)
    assert len(sent) > 1 and all(len(p.encode()) <= MAX_PAYLOAD_BYTES for p in sent)
    assert [s for p in sent for s in json.loads(p)["s"]] == signals
    assert payloads("node-a", [["invalidate", "settings", "y" * MAX_PAYLOAD_BYTES]]) == [], "too large: dropped"


async def test_after_the_database_restarts_a_node_reconnects_resyncs_and_hears_again(
    postgres_server: PostgresServer, nodes: list[ClusterCoordinator]
) -> None:
    a, b = nodes
    there = Heard(b)
    await asyncio.to_thread(postgres_server.restart)
    # While it was away B may have missed anything: it looks for work everywhere and drops caches.
    await there.until(lambda: ("resync",) in there.calls)
    assert ("jobs_ready", frozenset(CHANNELS)) in there.calls and ("batches_waiting",) in there.calls
    assert b.link.reconnects == 1
    await asyncio.wait_for(a.link.listening.wait(), WAIT_SECONDS)
    a.inbox_item("ten_1", "u1", "itm_after")  # A's sender reconnects on its own
    await there.until(lambda: ("inbox_item", "ten_1", "u1", "itm_after") in there.calls)


# --- the publish rate limit, shared -----------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
async def two_nodes_storage(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Database, Database]]:
    """Each node's storage on one database: on PostgreSQL two writers (two nodes' connections),
    on SQLite the one writer a data dir has."""
    if request.param == "sqlite":
        db = SQLiteDatabase(tmp_path / "shared.db")
        await db.open()
        yield db, db
        await db.close()
        return
    url = request.getfixturevalue("postgres_url")
    pair = (PostgresDatabase(url), PostgresDatabase(url))
    for db in pair:
        await db.open()
    yield pair
    for db in pair:
        await db.close()


async def test_two_nodes_share_a_tenants_bucket_within_the_stated_tolerance(
    two_nodes_storage: tuple[Database, Database],
) -> None:
    # One database and one clock, two nodes' buckets: 100/s with a burst of 100 (chunks of 5).
    clock = FakeClock(1_000.0)
    rate, burst = 100.0, 100.0
    here, there = (SharedBuckets(db, clock.now) for db in two_nodes_storage)
    chunk = chunk_size(rate, burst)
    assert chunk == 5
    admitted = 0
    for second in range(10):
        for i in range(300):  # 3x the rate offered every second, alternating nodes
            node = here if i % 2 else there
            admitted += await node.take(Limit.PUBLISH, "ten_1", rate, burst) == 0.0
            clock.t += 1 / 300
        # In any window from the start: at most burst + rate x elapsed, plus each node's held chunk.
        limit = burst + rate * (second + 1)
        assert admitted <= limit + 2 * (chunk - 1), (second, admitted)
        assert admitted >= limit - 2 * chunk, "the nodes together get the whole rate"
    assert await here.take(Limit.PUBLISH, "ten_2", rate, burst) == 0.0, "another tenant's bucket"


async def test_under_the_limit_a_node_asks_the_database_once_a_chunk(
    two_nodes_storage: tuple[Database, Database],
) -> None:
    clock = FakeClock(1_000.0)
    here, there = (SharedBuckets(db, clock.now) for db in two_nodes_storage)
    for i in range(1000):  # half the rate
        node = here if i % 2 else there
        assert await node.take(Limit.PUBLISH, "ten_1", 100.0, 100.0) == 0.0
        clock.t += 1 / 50
    assert here.round_trips + there.round_trips == 2 * 500 / chunk_size(100.0, 100.0)


async def test_a_refused_node_waits_without_asking_the_database_again(
    two_nodes_storage: tuple[Database, Database],
) -> None:
    clock = FakeClock(1_000.0)
    here, there = (SharedBuckets(db, clock.now) for db in two_nodes_storage)
    assert await here.take(Limit.PUBLISH, "ten_1", 1.0, 1.0) == 0.0
    wait = await there.take(Limit.PUBLISH, "ten_1", 1.0, 1.0)
    assert wait == pytest.approx(1.0)
    trips = there.round_trips
    for _ in range(10):
        clock.t += 0.05
        assert await there.take(Limit.PUBLISH, "ten_1", 1.0, 1.0) > 0
    assert there.round_trips == trips, "refusals remembered until the bucket refills"
    clock.t += 1.0
    assert await there.take(Limit.PUBLISH, "ten_1", 1.0, 1.0) == 0.0
    assert await here.take(Limit.PUBLISH, "ten_1", 1.0, 1.0) > 0, "the other node saw it taken"


async def test_nodes_taking_at_once_never_spend_a_token_twice(two_nodes_storage: tuple[Database, Database]) -> None:
    # Time stands still: the bucket's burst is all there is, whoever asks and however at once.
    clock = FakeClock(1_000.0)
    here, there = (SharedBuckets(db, clock.now) for db in two_nodes_storage)
    takes = [node.take(Limit.PUBLISH, "ten_1", 100.0, 100.0) for node in (here, there) for _ in range(150)]
    admitted = sum(wait == 0.0 for wait in await asyncio.gather(*takes))
    chunk = chunk_size(100.0, 100.0)
    assert 100 - 2 * (chunk - 1) <= admitted <= 100
