"""A worker pool's cycle (issue 19): the outcomes of the sends that finished since the last
cycle and the claim of the next jobs go in one write, so a busy pool commits once per
cycle, not once per message; an outcome that cannot be recorded is undone alone. A cycle
claims a pool's worth beyond the sends in flight, so a finished send's slot starts the next
job without waiting for a commit; a job that waits there too long goes back to the queue."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from alertflow.delivery import queue
from alertflow.delivery.workers import PREFETCH_LEASE_SHARE, ChannelPool, Stopped
from alertflow.message import Message
from alertflow.outcomes import Sent
from alertflow.providers.channel_setup import Entry, Handle
from alertflow.providers.interface import Provider, ProviderSettings
from tests.conftest import FakeClock, Harness, Script, StartApp
from tests.test_full_disk import recipients, stepped_app

# The pool's concurrency: a cycle's outcomes, and the jobs its claim takes in their place.
SLOTS = 5


class Gate(Provider):
    """Holds every send until the test opens the gate, so sends finish together."""

    type_name = "gate"
    channels = frozenset({"email"})

    def __init__(self) -> None:  # no settings, no context: the test hands it to the deliverer
        self.held: dict[str, asyncio.Future[None]] = {}  # by delivery id

    async def send(self, message: Message) -> Sent:
        held = asyncio.get_running_loop().create_future()
        self.held[message.delivery_id] = held
        await held
        return Sent(provider_message_id=message.delivery_id)

    def open(self) -> None:
        """Let every held send finish, in the same turn of the loop."""
        held, self.held = self.held, {}
        for future in held.values():
            future.set_result(None)


@pytest.fixture
async def gated(start_app: StartApp, script: Script) -> AsyncIterator[tuple[Harness, FakeClock, Gate, ChannelPool]]:
    """The app with its own pools stopped, and one email pool of SLOTS sending through a Gate,
    for the test to start once it has published (nothing wakes it: it has no timer)."""
    app, clock = await stepped_app(start_app, script)
    deliverer, gate = app.svc.deliverer, Gate()
    assert deliverer is not None
    handle = Handle(Entry("gate", ProviderSettings()), gate)

    async def through_the_gate(tenant_id: str, channel: str) -> list[Handle]:
        return [handle]

    deliverer.providers_for = through_the_gate
    lease = app.svc.config.queue.lease_seconds
    pool = ChannelPool("email", SLOTS, app.svc.database, deliverer, clock.now, lease, "node-a")
    yield app, clock, gate, pool
    gate.open()
    await pool.stop(1.0)


async def statuses(app: Harness) -> dict[str, int]:
    rows = await app.rows("SELECT status, COUNT(*) AS n FROM deliveries GROUP BY status")
    return {r["status"]: r["n"] for r in rows}


async def leased(app: Harness) -> int:
    [row] = await app.rows(f"SELECT COUNT(*) AS n FROM jobs WHERE state = {queue.LEASED}")
    return int(row["n"])


async def held_sends(app: Harness, gate: Gate, n: int) -> None:
    await app.until(lambda: len(gate.held) == n)


async def first_claim(app: Harness, gate: Gate, pool: ChannelPool, emails: int, tag: str) -> None:
    """Publish ``emails``, start the pool, and wait until its first claim's SLOTS sends are held."""
    await app.publish(recipients(emails, tag))
    pool.start()
    await held_sends(app, gate, SLOTS)


async def test_a_pool_cycle_records_every_finished_outcome_and_claims_the_next_jobs_in_one_commit(
    gated: tuple[Harness, FakeClock, Gate, ChannelPool],
) -> None:
    app, _, gate, pool = gated
    await first_claim(app, gate, pool, 4 * SLOTS, "cycle")  # the first claim: SLOTS sending, SLOTS prefetched
    assert await leased(app) == 2 * SLOTS
    database: Any = app.svc.database
    before, decided = database.commits, len(app.decisions)

    gate.open()
    await held_sends(app, gate, SLOTS)  # the prefetched jobs' sends are out
    await app.until(lambda: len(app.decisions) == decided + SLOTS)

    assert database.commits - before == 1  # SLOTS outcomes and the next claim together
    assert await statuses(app) == {"sent": SLOTS, "sending": 2 * SLOTS, "queued": SLOTS}
    assert await leased(app) == 2 * SLOTS
    assert {d.status for _, d in app.decisions} == {"sent"}


async def test_a_finished_send_starts_a_prefetched_job_before_its_outcome_is_recorded(
    gated: tuple[Harness, FakeClock, Gate, ChannelPool],
) -> None:
    app, _, gate, pool = gated
    await first_claim(app, gate, pool, 2 * SLOTS, "prefetch")
    first = set(gate.held)

    async with HeldWriter(app):  # no cycle can commit: no outcome recorded, nothing claimed
        gate.open()
        await held_sends(app, gate, SLOTS)
        assert not first & set(gate.held) and not app.decisions
    await app.until(lambda: len(app.decisions) == SLOTS)
    assert await statuses(app) == {"sent": SLOTS, "sending": SLOTS}


async def test_a_job_that_waited_too_long_in_the_prefetch_goes_back_and_is_claimed_afresh(
    gated: tuple[Harness, FakeClock, Gate, ChannelPool],
) -> None:
    app, clock, gate, pool = gated
    await first_claim(app, gate, pool, 2 * SLOTS, "stale")
    lease = app.svc.config.queue.lease_seconds
    clock.t += lease * PREFETCH_LEASE_SHARE + 1  # the sends in flight took that long

    gate.open()
    await app.until(lambda: len(app.decisions) == SLOTS)
    await held_sends(app, gate, SLOTS)  # given back unsent, then claimed again with a new lease

    rows = await app.rows(f"SELECT attempts, run_at FROM jobs WHERE state = {queue.LEASED}")
    assert len(rows) == SLOTS
    assert {r["attempts"] for r in rows} == {1}  # the stale claim's attempt did not count
    assert {r["run_at"] for r in rows} == {clock.t + lease}


async def test_an_outcome_that_cannot_be_recorded_does_not_undo_the_others_of_its_cycle(
    gated: tuple[Harness, FakeClock, Gate, ChannelPool],
) -> None:
    app, _, gate, pool = gated
    await first_claim(app, gate, pool, 2 * SLOTS, "refused")
    refused = next(iter(gate.held))  # a send in flight, not a prefetched job
    # The database itself refuses this one delivery's history: its whole outcome must fail.
    await app.svc.database.write(
        lambda conn: conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON attempts WHEN NEW.delivery_id = ?"
            " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END".replace("?", f"'{refused}'")
        )
    )
    database: Any = app.svc.database
    before = database.commits

    gate.open()
    await held_sends(app, gate, SLOTS)  # the prefetched jobs took every slot
    await app.until(lambda: len(app.decisions) == SLOTS - 1)

    assert database.commits - before == 1
    assert await statuses(app) == {"sent": SLOTS - 1, "sending": SLOTS + 1}
    [(status, state)] = [
        (r["status"], r["state"])
        for r in await app.rows(
            "SELECT d.status, j.state FROM deliveries d JOIN jobs j ON j.delivery_id = d.id WHERE d.id = ?",
            (refused,),
        )
    ]
    # Unrecorded, it keeps its lease: once the lease ends it is sent again (at least once).
    assert (status, state) == ("sending", queue.LEASED)
    assert refused not in {j.delivery_id for j, _ in app.decisions}
    assert await leased(app) == SLOTS + 1


class HeldWriter:
    """Holds the writer thread inside a write of its own until released: the writes handed
    over meanwhile wait behind it."""

    def __init__(self, app: Harness) -> None:
        self.database: Any = app.svc.database
        self._entered, self._release = threading.Event(), threading.Event()
        self._write: asyncio.Task[None] | None = None

    async def __aenter__(self) -> HeldWriter:
        self._write = asyncio.create_task(self.database.write(self._hold))
        await asyncio.to_thread(self._entered.wait)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._release.set()
        assert self._write is not None
        await self._write

    def _hold(self, tx: Any) -> None:
        self._entered.set()
        self._release.wait()

    def waiting(self) -> int:
        """Writes handed to the writer that have not begun."""
        return int(self.database._jobs.qsize())


async def test_a_stop_lets_the_sends_in_flight_finish_and_gives_the_prefetched_jobs_back_unsent(
    gated: tuple[Harness, FakeClock, Gate, ChannelPool],
) -> None:
    app, _, gate, pool = gated
    await first_claim(app, gate, pool, 2 * SLOTS, "stopping")  # SLOTS more wait in the prefetch

    stopping = asyncio.create_task(pool.stop(60.0))
    await asyncio.sleep(0)  # the stop begins: it waits for the sends in flight
    gate.open()
    await app.until(stopping.done)

    assert stopping.result() == Stopped(drained=SLOTS, released=SLOTS)
    assert not gate.held  # no prefetched job was started once the stop began
    assert await statuses(app) == {"sent": SLOTS, "queued": SLOTS}
    assert await leased(app) == 0
    [row] = await app.rows("SELECT MAX(attempts) AS n FROM jobs")
    assert row["n"] == 0  # released unsent: their claim's attempt does not count


async def test_jobs_a_claim_brings_back_after_stop_began_go_back_to_the_queue_unsent(
    gated: tuple[Harness, FakeClock, Gate, ChannelPool],
) -> None:
    app, _, gate, pool = gated
    await first_claim(app, gate, pool, 3 * SLOTS, "late")  # SLOTS prefetched; SLOTS more in the queue

    async with HeldWriter(app) as writer:
        gate.open()
        await held_sends(app, gate, SLOTS)  # the prefetched jobs' sends
        await app.until(lambda: writer.waiting() == 1)  # the outcomes and the next claim
        stopping = asyncio.create_task(pool.stop(60.0))
        await asyncio.sleep(0)  # the stop begins
        gate.open()
    await app.until(stopping.done)

    # The claim that came back after the stop began started nothing: back to the queue.
    assert stopping.result() == Stopped(drained=SLOTS, released=SLOTS)
    assert not gate.held
    assert await statuses(app) == {"sent": 2 * SLOTS, "queued": SLOTS}
    assert await leased(app) == 0
