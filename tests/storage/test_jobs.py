"""The queue's storage contract: claim order, leases, outcomes, the DLQ and lease recovery.

Jobs are made the way the server makes them (a publish plan stored through intake's
writer function); everything is then observed through the queue's own operations.
"""

from __future__ import annotations

from datetime import UTC, datetime

from alertflow.delivery.deliverer import Deliverer, Outcome
from alertflow.delivery.queue import Decision, Job
from alertflow.intake.publish import Audience, PublishRequest, plan, store
from alertflow.recipients.categories import BUILTIN
from alertflow.storage import deliveries, jobs
from alertflow.storage.database import Database, Tx, isolated

NOW = 1_800_000_000.0
LEASE = 60.0
NODE, OTHER_NODE = "node-a", "node-b"
CONTENT = {"email": {"subject": "s", "text": "t"}}


async def publish(
    db: Database,
    tenant_id: str = "t1",
    *,
    priority: str = "medium",
    count: int = 1,
    now: float = NOW,
    send_at: float | None = None,
) -> list[str]:
    """Publish ``count`` emails as the API does; returns their delivery ids in order."""
    body: dict[str, object] = {
        "to": [{"email": f"u{i}@example.com"} for i in range(count)],
        "content": CONTENT,
        "priority": priority,
    }
    if send_at is not None:
        body["send_at"] = datetime.fromtimestamp(send_at, UTC).isoformat()
    req = PublishRequest.model_validate(body)
    assert req.to is not None
    p = plan(req, req.to, Audience(tenant_id, BUILTIN["default"], ["email"], content=CONTENT), now)
    await db.write(lambda tx: store(tx, tenant_id, None, p, now))
    return [d[0] for d in p.deliveries]


async def claim(db: Database, now: float = NOW, limit: int = 100, owner: str | None = NODE) -> list[Job]:
    return await db.write(lambda tx: jobs.claim(tx, "email", limit, now, LEASE, "", owner))


async def status(db: Database, delivery_id: str) -> str:
    [row] = [d for d in await deliveries.of_notifications(db, await notification_ids(db)) if d["id"] == delivery_id]
    return str(row["status"])


async def notification_ids(db: Database, tenant_id: str = "t1") -> list[str]:
    return [n["id"] for n in await deliveries.notifications_page(db, tenant_id, {}, 1000, None)]


async def test_a_claim_takes_higher_priorities_first_and_each_oldest_first(database: Database) -> None:
    low = await publish(database, priority="low", now=NOW)
    medium_late = await publish(database, priority="medium", now=NOW + 2)
    high = await publish(database, priority="high", now=NOW + 3)
    medium_early = await publish(database, priority="medium", now=NOW + 1)
    claimed = await claim(database, NOW + 10)
    assert [j.delivery_id for j in claimed] == high + medium_early + medium_late + low
    assert [j.priority for j in claimed] == ["high", "medium", "medium", "low"]


async def test_a_claim_takes_at_most_its_limit_and_a_leased_job_is_not_claimed_again(database: Database) -> None:
    ids = await publish(database, count=3)
    first = await claim(database, limit=2)
    second = await claim(database, limit=2)
    assert [j.delivery_id for j in first] == ids[:2] and [j.delivery_id for j in second] == ids[2:]
    assert await claim(database) == []
    assert {j.attempt for j in first + second} == {1}
    assert await status(database, ids[0]) == "sending"


async def test_a_claim_hands_over_what_the_send_needs(database: Database) -> None:
    [did] = await publish(database)
    [job] = await claim(database)
    assert (job.delivery_id, job.tenant_id, job.channel, job.category) == (did, "t1", "email", "default")
    assert job.recipient == {"email": "u0@example.com"}
    assert job.content == CONTENT


async def test_a_waiting_job_is_not_claimed_until_promoted_when_due(database: Database) -> None:
    [did] = await publish(database, send_at=NOW + 100)
    assert await status(database, did) == "scheduled"
    assert await database.write(lambda tx: jobs.promote_due(tx, NOW + 99)) == {}
    assert await claim(database, NOW + 99) == []
    assert await jobs.next_due(database) == NOW + 100
    assert await database.write(lambda tx: jobs.promote_due(tx, NOW + 100)) == {"email": 1}
    assert await status(database, did) == "queued"
    assert [j.delivery_id for j in await claim(database, NOW + 100)] == [did]


async def test_a_sent_outcome_removes_the_job_and_records_the_attempt(database: Database) -> None:
    [did] = await publish(database)
    [job] = await claim(database)
    decision = Decision("sent", "sent", provider="outbox", provider_message_id="m1")
    await database.write(lambda tx: jobs.record(tx, job, decision, NOW + 1))
    assert await status(database, did) == "sent"
    assert [(e["outcome"], e["provider"]) for e in await deliveries.events(database, [did])] == [("sent", "outbox")]
    assert await claim(database, NOW + 1000) == []
    assert await jobs.next_due(database) is None


async def test_a_retry_waits_until_its_time_and_counts_as_the_next_attempt(database: Database) -> None:
    [did] = await publish(database)
    [job] = await claim(database)
    retry = Decision("queued", "retry", provider="smtp", error="421 busy", retry_at=NOW + 30)
    await database.write(lambda tx: jobs.record(tx, job, retry, NOW + 1))
    assert await status(database, did) == "queued"
    assert await jobs.next_due(database) == NOW + 30
    assert await database.write(lambda tx: jobs.promote_due(tx, NOW + 29)) == {}
    assert await database.write(lambda tx: jobs.promote_due(tx, NOW + 30)) == {"email": 1}
    [again] = await claim(database, NOW + 30)
    assert again.attempt == 2


async def test_a_deferral_is_not_an_attempt(database: Database) -> None:
    [did] = await publish(database)
    [job] = await claim(database)
    deferred = Decision("deferred", "deferred", error="circuit open", retry_at=NOW + 5)
    await database.write(lambda tx: jobs.record(tx, job, deferred, NOW + 1))
    assert await deliveries.events(database, [did]) == []
    await database.write(lambda tx: jobs.promote_due(tx, NOW + 5))
    [again] = await claim(database, NOW + 5)
    assert again.attempt == 1


async def test_a_dead_outcome_moves_the_delivery_to_the_dlq_in_the_same_write(database: Database) -> None:
    [did] = await publish(database)
    [job] = await claim(database)
    dead = Decision("dead", "dead", provider="smtp", error="550 no such user")
    await database.write(lambda tx: jobs.record(tx, job, dead, NOW + 1))
    [letter] = await jobs.dead_letters(database, "t1", None, 10, None)
    assert (letter["delivery_id"], letter["attempts"], letter["last_error"]) == (did, 1, "550 no such user")
    assert await status(database, did) == "dead"
    assert await claim(database, NOW + 1000) == []


async def test_a_cycles_attempts_recorded_together_each_end_as_recorded_alone(database: Database) -> None:
    sent_id, retried_id, dead_id, deferred_id, failed_over_id = await publish(database, count=5)
    claimed = {j.delivery_id: j for j in await claim(database)}
    decisions = {
        sent_id: Decision("sent", "sent", provider="outbox", provider_message_id="m1"),
        retried_id: Decision("queued", "retry", provider="smtp", error="421 busy", retry_at=NOW + 30),
        dead_id: Decision("dead", "dead", provider="smtp", error="550 no such user"),
        deferred_id: Decision("deferred", "deferred", error="circuit open", retry_at=NOW + 5),
        failed_over_id: Decision(
            "sent", "sent", provider="ses", provider_message_id="m2", earlier=(("smtp", "failed_over", "421"),)
        ),
    }
    await database.write(lambda tx: jobs.record_all(tx, [(claimed[d], decisions[d], NOW + 1) for d in decisions]))

    assert [await status(database, d) for d in decisions] == ["sent", "queued", "dead", "queued", "sent"]
    events = await deliveries.events(database, list(decisions))
    by_delivery = {d: [(e["outcome"], e["provider"]) for e in events if e["delivery_id"] == d] for d in decisions}
    assert by_delivery == {
        sent_id: [("sent", "outbox")],
        retried_id: [("retry", "smtp")],
        dead_id: [("dead", "smtp")],
        deferred_id: [],  # not an attempt
        failed_over_id: [("failed_over", "smtp"), ("sent", "ses")],  # in the order tried
    }
    assert [letter["delivery_id"] for letter in await jobs.dead_letters(database, "t1", None, 10, None)] == [dead_id]
    # The retry and the deferral wait for their times; the others' jobs are gone.
    await database.write(lambda tx: jobs.promote_due(tx, NOW + 30))
    again = {j.delivery_id: j.attempt for j in await claim(database, NOW + 30)}
    assert again == {retried_id: 2, deferred_id: 1}


async def test_a_replay_queues_a_dead_letter_again_with_fresh_attempts(database: Database) -> None:
    [did] = await publish(database)
    [job] = await claim(database)
    await database.write(lambda tx: jobs.record(tx, job, Decision("dead", "dead", error="x"), NOW + 1))
    assert await database.write(lambda tx: jobs.replay(tx, did, NOW + 2, "another-tenant")) is None
    replayed = await database.write(lambda tx: jobs.replay(tx, did, NOW + 2, "t1"))
    assert replayed is not None and replayed["channel"] == "email"
    assert await jobs.dead_letters(database, "t1", None, 10, None) == []
    assert await status(database, did) == "queued"
    [again] = await claim(database, NOW + 2)
    assert again.attempt == 1
    assert await database.write(lambda tx: jobs.replay(tx, did, NOW + 3, "t1")) is None


async def test_a_bulk_replay_selects_the_tenants_dead_letters_by_filter(database: Database) -> None:
    ids = await publish(database, count=2)
    for job in await claim(database):
        await database.write(lambda tx, job=job: jobs.record(tx, job, Decision("dead", "dead"), NOW + 1))
    everything = jobs.DeadFilter("t1")
    assert sorted(await database.write(lambda tx: jobs.dead_ids(tx, everything))) == sorted(ids)
    one = jobs.DeadFilter("t1", delivery_ids=[ids[0]])
    assert await database.write(lambda tx: jobs.dead_ids(tx, one)) == [ids[0]]
    later = jobs.DeadFilter("t1", since=NOW + 2)
    assert await database.write(lambda tx: jobs.dead_ids(tx, later)) == []
    other = jobs.DeadFilter("t2")
    assert await database.write(lambda tx: jobs.dead_ids(tx, other)) == []
    assert await database.write(lambda tx: jobs.delete_dead(tx, "t1", ids[0]))
    assert not await database.write(lambda tx: jobs.delete_dead(tx, "t1", ids[0]))


async def test_all_dead_letters_lists_every_one_newest_first_by_tenant_or_all(database: Database) -> None:
    ids = sorted(await publish(database, count=3) + await publish(database, "t2"))
    for job in await claim(database, limit=10):
        await database.write(lambda tx, job=job: jobs.record(tx, job, Decision("dead", "dead"), NOW + 1))
    every = await database.write(lambda tx: jobs.all_dead_letters(tx, None))
    assert [d["delivery_id"] for d in every] == ids[::-1]
    assert every == await jobs.dead_letters(database, None, None, 10, None)
    [other] = await database.write(lambda tx: jobs.all_dead_letters(tx, "t2"))
    assert other["tenant_id"] == "t2"
    assert await database.write(lambda tx: jobs.all_dead_letters(tx, "t3")) == []


async def test_released_jobs_are_ready_again_and_their_claim_uncounted(database: Database) -> None:
    [did] = await publish(database)
    claimed = await claim(database)
    await database.write(lambda tx: jobs.release(tx, claimed, NOW + 1))
    assert await status(database, did) == "queued"
    [again] = await claim(database, NOW + 1)
    assert again.attempt == 1


async def test_cancel_takes_unstarted_deliveries_but_not_leased_ones(database: Database) -> None:
    first, second = await publish(database), await publish(database)
    await claim(database, limit=1)
    [leased_notification, waiting_notification] = sorted(await notification_ids(database))
    assert await database.write(lambda tx: jobs.cancel(tx, "t2", waiting_notification, NOW)) is None
    cancelled = [
        *await database.write(lambda tx: jobs.cancel(tx, "t1", leased_notification, NOW)),
        *await database.write(lambda tx: jobs.cancel(tx, "t1", waiting_notification, NOW)),
    ]
    assert cancelled == second
    assert await status(database, first[0]) == "sending"
    assert await status(database, second[0]) == "cancelled"


async def test_a_lease_comes_back_when_it_expires_and_not_before(database: Database) -> None:
    [did] = await publish(database)
    await claim(database)
    assert await database.write(lambda tx: jobs.expire_leases(tx, NOW + LEASE - 1)) == set()
    assert await claim(database, NOW + LEASE - 1) == []
    assert await database.write(lambda tx: jobs.expire_leases(tx, NOW + LEASE)) == {"email"}
    assert await status(database, did) == "queued"
    [again] = await claim(database, NOW + LEASE)
    assert again.attempt == 2  # the lost try counts: it may have been sent


async def test_a_late_outcome_of_a_lease_that_expired_touches_no_later_job(database: Database) -> None:
    """A send outlives its lease; the job is claimed and sent again, and recorded. Its queue
    row is gone, and SQLite may give a newer job the same row id once the table is empty.
    The first send's outcome, recorded last, must leave that newer job alone."""
    await publish(database)
    [slow] = await claim(database)
    await database.write(lambda tx: jobs.expire_leases(tx, NOW + LEASE))
    [again] = await claim(database, NOW + LEASE)
    sent = Decision("sent", "sent", provider="outbox")
    await database.write(lambda tx: jobs.record(tx, again, sent, NOW + LEASE + 1))
    later = await publish(database, now=NOW + LEASE + 2)
    await database.write(lambda tx: jobs.record(tx, slow, sent, NOW + LEASE + 3))
    retried = Decision("queued", "retry", provider="outbox", error="busy", retry_at=NOW + LEASE + 4)
    await database.write(lambda tx: jobs.record(tx, slow, retried, NOW + LEASE + 3))
    assert [j.delivery_id for j in await claim(database, NOW + LEASE + 5)] == later


async def test_at_start_a_node_takes_back_its_own_unexpired_leases_at_once(database: Database) -> None:
    [did] = await publish(database)
    await claim(database, owner=NODE)
    assert await database.write(lambda tx: jobs.expire_leases(tx, NOW + 1, NODE)) == {"email"}
    assert await status(database, did) == "queued"
    assert [j.delivery_id for j in await claim(database, NOW + 1)] == [did]


async def test_at_start_a_node_leaves_another_nodes_lease_until_it_expires(database: Database) -> None:
    [did] = await publish(database)
    await claim(database, owner=OTHER_NODE)
    assert await database.write(lambda tx: jobs.expire_leases(tx, NOW + 1, NODE)) == set()
    assert await status(database, did) == "sending"
    assert await database.write(lambda tx: jobs.expire_leases(tx, NOW + LEASE, NODE)) == {"email"}
    assert [j.delivery_id for j in await claim(database, NOW + LEASE)] == [did]


async def test_a_pool_cycle_records_its_outcomes_undoes_a_failing_one_alone_and_claims_in_the_same_commit(
    database: Database,
) -> None:
    ids = await publish(database, count=4)
    first = await claim(database, limit=3)
    sent = Decision("sent", "sent", "p", "pm-1")
    # No time to retry at: the job's row refuses it after the history and status were written.
    broken = Decision("queued", "retry", "p", error="try later", retry_at=None)
    outcomes = [Outcome(j, d, (), NOW, NOW + LEASE) for j, d in zip(first, [sent, broken, sent], strict=True)]

    def cycle(tx: Tx) -> tuple[list[BaseException | None], list[Job] | None]:
        errors = Deliverer.apply_all(tx, outcomes)
        return errors, isolated(tx, lambda tx: jobs.claim(tx, "email", 10, NOW, LEASE, "", NODE))[0]

    before = database.commits  # type: ignore[attr-defined]
    errors, claimed = await database.write(cycle)
    assert database.commits - before == 1  # type: ignore[attr-defined]
    assert [e is None for e in errors] == [True, False, True]
    assert [j.delivery_id for j in claimed or []] == [ids[3]]
    assert [await status(database, d) for d in ids] == ["sent", "sending", "sent", "sending"]
    assert await deliveries.events(database, [ids[1]]) == []  # its own writes undone with it
    assert [e["outcome"] for e in await deliveries.events(database, [ids[0], ids[2]])] == ["sent", "sent"]
