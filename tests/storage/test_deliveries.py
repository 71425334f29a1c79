"""The deliveries' storage contract: outcomes, history in order, receipts that only move a
delivery forward, and the notification reads the API pages through."""

from __future__ import annotations

import json

from alertflow.delivery.queue import Decision
from alertflow.storage import deliveries, jobs
from alertflow.storage.database import Database
from tests.storage.test_jobs import NOW, claim, publish, status


async def sent(db: Database, message_id: str = "m1") -> str:
    """A delivery the provider accepted; its id."""
    [did] = await publish(db)
    [job] = await claim(db)
    decision = Decision("sent", "sent", provider="sms+smtp", provider_message_id=message_id)
    await db.write(lambda tx: jobs.record(tx, job, decision, NOW + 1))
    return did


async def test_a_receipt_is_checked_against_the_provider_and_message_the_delivery_recorded(
    database: Database,
) -> None:
    did = await sent(database, "m-42")
    target = await deliveries.receipt_target(database, did)
    assert target == deliveries.ReceiptTarget("t1", "email", "sms+smtp", "m-42")
    assert await deliveries.receipt_target(database, "dlv_unknown") is None


async def test_a_receipt_moves_a_sent_delivery_forward_and_a_late_one_stays_an_event(database: Database) -> None:
    did = await sent(database)

    async def receipt(status: str, event: str) -> bool:
        return await database.write(
            lambda tx: deliveries.apply_receipt(tx, did, status, None, event, None, "smtp", NOW + 2)
        )

    assert await receipt("delivered", "receipt:delivered")
    assert await status(database, did) == "delivered"
    assert not await receipt("failed", "receipt:bounced")
    assert await status(database, did) == "delivered"
    outcomes = [e["outcome"] for e in await deliveries.events(database, [did])]
    assert outcomes == ["sent", "receipt:delivered", "receipt:bounced"]


async def test_a_receipt_does_not_move_a_delivery_that_was_never_sent(database: Database) -> None:
    [did] = await publish(database)
    moved = await database.write(
        lambda tx: deliveries.apply_receipt(tx, did, "delivered", None, "receipt:delivered", None, "smtp", NOW)
    )
    assert not moved and await status(database, did) == "queued"


async def test_events_keep_the_order_they_were_added_in_even_at_one_instant(database: Database) -> None:
    [did] = await publish(database)
    events = [("a", None, None), ("b", "why", "p"), ("c", None, "q")]
    await database.write(lambda tx: deliveries.add_events(tx, did, NOW, events))
    got = await deliveries.events(database, [did])
    assert [(e["outcome"], e["error"], e["provider"]) for e in got] == events
    assert await deliveries.events(database, []) == []


async def test_an_outcome_counts_the_attempt_and_keeps_the_provider_once_known(database: Database) -> None:
    [did] = await publish(database)
    await database.write(lambda tx: deliveries.set_outcome(tx, did, "queued", "smtp", None, "421 busy", NOW))
    await database.write(lambda tx: deliveries.set_outcome(tx, did, "sent", None, "m9", None, NOW + 1))
    [notification] = await deliveries.notifications_page(database, "t1", {}, 10, None)
    [row] = await deliveries.of_notifications(database, [notification["id"]])
    assert (row["status"], row["attempts"], row["provider"], row["provider_message_id"]) == ("sent", 2, "smtp", "m9")
    assert (row["reason"], row["sent_at"]) == (None, NOW + 1)


async def test_outcomes_recorded_together_leave_each_delivery_as_recording_them_in_turn(database: Database) -> None:
    # One statement for a cycle's outcomes: a join updates a row once, yet a send that
    # outlived its lease can be recorded in the same cycle as its second try.
    ids = await publish(database, count=4)
    together, in_turn = ids[:2], ids[2:]

    def outcomes(first: str, second: str) -> list[deliveries.OutcomeRow]:
        return [
            (first, "sent", "smtp", "m1", None, NOW),
            (second, "queued", "smtp", None, "421 busy", NOW),
            (first, "failed", None, None, "550 no such user", NOW + 1),
            (second, "delivered", "ses", "m2", None, NOW + 2),
        ]

    await database.write(lambda tx: deliveries.set_outcomes(tx, outcomes(*together)))
    for row in outcomes(*in_turn):
        await database.write(lambda tx, row=row: deliveries.set_outcomes(tx, [row]))  # type: ignore[misc]

    columns = ("status", "attempts", "provider", "provider_message_id", "reason", "sent_at", "delivered_at")
    notifications = await deliveries.notifications_page(database, "t1", {}, 10, None)
    rows = {r["id"]: r for r in await deliveries.of_notifications(database, [n["id"] for n in notifications])}
    got = {did: tuple(rows[did][c] for c in columns) for did in ids}
    assert got[together[0]] == got[in_turn[0]] == ("failed", 2, "smtp", "m1", "550 no such user", NOW, None)
    assert got[together[1]] == got[in_turn[1]] == ("delivered", 2, "ses", "m2", None, NOW + 2, NOW + 2)


async def test_notifications_page_newest_first_filtered_and_scoped_to_the_tenant(database: Database) -> None:
    await publish(database, count=3)
    await publish(database, "t2")
    page = await deliveries.notifications_page(database, "t1", {}, 2, None)
    assert len(page) == 2 and page[0]["id"] > page[1]["id"]
    rest = await deliveries.notifications_page(database, "t1", {}, 10, page[-1]["id"])
    assert len(rest) == 1
    assert await deliveries.notifications_page(database, "t1", {"status": "sent"}, 10, None) == []
    assert len(await deliveries.notifications_page(database, "t1", {"channel": "email"}, 10, None)) == 3
    assert await deliveries.notification(database, "t2", page[0]["id"]) is None
    assert (await deliveries.notification(database, "t1", page[0]["id"]) or {})["tenant_id"] == "t1"


async def test_deliveries_are_found_by_the_provider_message_ids_they_recorded_within_the_tenant(
    database: Database,
) -> None:
    did = await sent(database, "Q123")
    find = deliveries.with_provider_message_ids
    assert await database.write(lambda tx: find(tx, "t1", ["other", "Q123"])) == [did]
    assert await database.write(lambda tx: find(tx, "another-tenant", ["Q123"])) == []
    assert await database.write(lambda tx: find(tx, "t1", [])) == []


async def test_a_recipient_search_finds_the_address_the_user_id_or_the_users_record_in_any_case(
    database: Database, tenant_id: str
) -> None:
    from alertflow.intake.publish import Audience, PublishRequest, plan, store
    from alertflow.recipients.categories import BUILTIN
    from alertflow.storage import users

    await database.write(lambda tx: users.put(tx, tenant_id, users.User(user_id="u-ann", email="ann@corp.example")))
    recipients = [{"email": "Bo_Smith@example.com"}, {"phone": "+15550100"}, {"user_id": "u-ann"}, {"user_id": "u-cy"}]
    for owner in (tenant_id, "t2"):
        req = PublishRequest.model_validate({"to": recipients, "content": {"email": {"subject": "s", "text": "t"}}})
        assert req.to is not None
        p = plan(req, req.to, Audience(owner, BUILTIN["default"], ["email"]), NOW)
        await database.write(lambda tx, p=p, owner=owner: store(tx, owner, None, p, NOW))

    async def found(q: str) -> list[str]:
        page = await deliveries.notifications_page(database, tenant_id, {"q": q}, 10, None)
        return [
            json.loads(n["recipient"]).get("email") or n["user_id"] or json.loads(n["recipient"])["phone"] for n in page
        ]

    assert await found("bo_smith@EXAMPLE.com") == ["Bo_Smith@example.com"], "an exact address, in any case"
    assert await found("5550100") == ["+15550100"], "part of a phone number"
    assert await found("U-C") == ["u-cy"], "part of a user id"
    assert await found("corp.example") == ["u-ann"], "the email of the user's record"
    assert await found("o_s") == ["Bo_Smith@example.com"], "_ is taken literally"
    assert await found("%") == []
    assert await found("email") == [], "the recipient's keys are not searched"
