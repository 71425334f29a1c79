"""A provider outage does not burn retries (issue 13): a delivery no provider was tried for
(every circuit open) waits for the circuit to half-open and spends no attempt.

The queue is driven by hand, a step at a time, on a clock the test moves: the app's worker
pools are stopped, and each step promotes what is due, claims it and delivers it."""

from __future__ import annotations

import asyncio
import random

import pytest

from alertflow.providers.channel_setup import Handle
from alertflow.providers.resilience import (
    CIRCUIT_COOLDOWN_SECONDS,
    CIRCUIT_FAILURES,
    TRIAL_RECHECK_SECONDS,
    CircuitBreaker,
)
from alertflow.storage import jobs as stored_jobs
from tests.conftest import EMAIL, FakeClock, Harness, Script, StartApp

START = 1_800_000_000.0
RECIPIENTS = 60
# Far beyond what any run here needs; only a broken queue reaches it.
MAX_STEPS = 500
LEASE_SECONDS = 60.0


class Stepper:
    """The queue of one channel, run by hand on the test's clock."""

    def __init__(self, app: Harness, clock: FakeClock, handle: Handle) -> None:
        self.app, self.clock, self.handle = app, clock, handle
        assert app.svc.deliverer is not None
        self.deliverer = app.svc.deliverer
        self.deliverer.rng = random.Random(13)  # the same backoffs every run

    async def step(self) -> int:
        """Promote what is due, claim it all and deliver it concurrently, as a pool does."""
        now, db = self.clock.t, self.app.svc.database
        await db.write(lambda conn: stored_jobs.promote_due(conn, now))
        jobs = await db.write(lambda conn: stored_jobs.claim(conn, "email", 1000, now, LEASE_SECONDS))
        await asyncio.gather(*(self.deliverer.deliver(job) for job in jobs))
        return len(jobs)

    async def next_due(self) -> float | None:
        [row] = await self.app.rows("SELECT MIN(run_at) AS t FROM jobs")
        return row["t"]

    async def until_idle(self, recover_at: float, script: Script) -> None:
        """Step, jumping the clock to the next due job, until no job is left; the provider
        recovers once the clock reaches ``recover_at``."""
        for _ in range(MAX_STEPS):
            if self.clock.t >= recover_at:
                script.set()
            await self.step()
            due = await self.next_due()
            if due is None:
                return
            target = due if recover_at <= self.clock.t else min(due, recover_at)
            self.clock.t = max(self.clock.t, target)
        raise AssertionError(f"the queue was not idle after {MAX_STEPS} steps")


async def outage_app(start_app: StartApp, script: Script) -> tuple[Harness, Stepper]:
    clock = FakeClock(START)
    app = await start_app(clock=clock, providers={"email": script.provider()})
    assert app.svc.pools is not None
    await app.svc.pools.stop(1.0)  # the test drives the queue itself
    [handle] = await app.svc.channels.for_tenant(app.tenant_id, "email")
    handle.breaker = CircuitBreaker(clock.now)  # the circuit keeps the test's time too
    return app, Stepper(app, clock, handle)


async def publish_many(app: Harness, n: int) -> list[str]:
    out = await app.publish({"to": [{"email": f"u{i}@example.com"} for i in range(n)], "content": EMAIL})
    return [item["id"] for item in out["notifications"]]


async def test_an_outage_shorter_than_the_retry_budget_leaves_no_dead_letters(
    start_app: StartApp, script: Script
) -> None:
    app, stepper = await outage_app(start_app, script)
    script.set(fail="retry")
    ids = await publish_many(app, RECIPIENTS)
    # About 4 s down, as in the disk-full episode: well inside five attempts' backoff.
    await stepper.until_idle(recover_at=START + 4.0, script=script)

    assert await app.rows("SELECT * FROM dead_letters") == []
    deliveries = [d for nid in ids for d in (await app.notification(nid))["deliveries"]]
    assert {d["status"] for d in deliveries} == {"sent"}
    failed_tries = [s for s in script.sends() if s["outcome"] == "retry"]
    assert CIRCUIT_FAILURES <= len(failed_tries) < RECIPIENTS, "the circuit should have held most back"
    for d in deliveries:
        outcomes = [a["outcome"] for a in d["attempts"]]
        assert outcomes in (["sent"], ["retry", "sent"]), outcomes  # real tries only
    # The provider was tried again only once its circuit half-opened, with one trial.
    first_after = min(s["at"] for s in script.sends() if s["outcome"] == "sent")
    assert not [s for s in script.sends() if s["outcome"] == "retry" and s["at"] > first_after]


async def test_a_delivery_held_back_by_an_open_circuit_waits_uncounted_and_says_why(
    start_app: StartApp, script: Script
) -> None:
    app, stepper = await outage_app(start_app, script)
    script.set(fail="retry")
    ids = await publish_many(app, CIRCUIT_FAILURES + 3)
    await stepper.step()
    assert stepper.handle.breaker.state == "open"
    rows = await app.rows(
        "SELECT d.status, d.attempts, d.reason, j.attempts AS claims, j.run_at FROM deliveries d"
        " JOIN jobs j ON j.delivery_id = d.id ORDER BY d.attempts"
    )
    held = [r for r in rows if r["attempts"] == 0]
    assert len(held) >= 1 and len(rows) == len(ids)
    for r in held:
        assert r["status"] == "queued" and r["claims"] == 0
        assert "circuit open" in r["reason"]
        assert r["run_at"] == pytest.approx(START + CIRCUIT_COOLDOWN_SECONDS)
    assert not await app.rows("SELECT 1 FROM attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.attempts = 0")

    # Past the cooldown the provider still fails: one trial is spent, the rest wait again.
    stepper.clock.t = START + CIRCUIT_COOLDOWN_SECONDS
    tries_before = len(script.sends())
    await stepper.step()
    assert len(script.sends()) == tries_before + 1
    assert stepper.handle.breaker.state == "open"
    assert await app.rows("SELECT * FROM dead_letters") == []


async def test_retries_of_a_provider_that_stays_down_still_end_in_the_dlq(start_app: StartApp, script: Script) -> None:
    """Held-back waits do not count, but real tries do: a provider down for good still
    sends its deliveries to the DLQ, one trial per cooldown."""
    app, stepper = await outage_app(start_app, script)
    script.set(fail="retry")
    [nid] = await publish_many(app, 1)
    await stepper.until_idle(recover_at=float("inf"), script=script)
    [delivery] = (await app.notification(nid))["deliveries"]
    assert delivery["status"] == "dead"
    assert [a["outcome"] for a in delivery["attempts"]] == ["retry"] * 4 + ["dead"]
    assert len(script.sends()) == 5


def test_a_half_open_circuit_lets_one_trial_through_at_a_time() -> None:
    now = [0.0]
    breaker = CircuitBreaker(lambda: now[0])
    for _ in range(CIRCUIT_FAILURES):
        breaker.failed()
    assert not breaker.allow() and breaker.wait() == CIRCUIT_COOLDOWN_SECONDS
    now[0] += CIRCUIT_COOLDOWN_SECONDS
    assert breaker.allow()  # the trial
    assert not breaker.allow() and breaker.wait() == TRIAL_RECHECK_SECONDS
    breaker.failed()  # the trial failed: open for another cooldown
    assert not breaker.allow() and breaker.wait() == CIRCUIT_COOLDOWN_SECONDS
    now[0] += CIRCUIT_COOLDOWN_SECONDS
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.state == "closed" and breaker.allow() and breaker.allow() and breaker.wait() == 0.0


def test_a_trial_that_never_reports_back_is_given_up_after_a_cooldown() -> None:
    now = [0.0]
    breaker = CircuitBreaker(lambda: now[0])
    for _ in range(CIRCUIT_FAILURES):
        breaker.failed()
    now[0] += CIRCUIT_COOLDOWN_SECONDS
    assert breaker.allow()  # a trial that is then cancelled, say
    now[0] += CIRCUIT_COOLDOWN_SECONDS - 0.5
    assert not breaker.allow() and breaker.wait() == pytest.approx(0.5)
    now[0] += 0.5
    assert breaker.allow()
