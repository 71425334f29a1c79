"""Idempotency keys name one request (issue 13): the same request again gets the first
answer and creates nothing; another request under the same key is a 422; requests sent at
once under one key create once."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from alertflow.intake.idempotency import TTL_SECONDS
from tests.conftest import EMAIL, SMS, FakeClock, Harness, StartApp

PUBLISH = "/v1/notifications/publish"
BULK = "/v1/notifications/bulk"
CONCURRENT = 20
REUSED = "/docs#problem-idempotency-key-reused"


def to(address: str) -> dict[str, Any]:
    return {"to": {"email": address}, "content": EMAIL}


async def count(app: Harness, table: str = "notifications") -> int:
    return int((await app.rows(f"SELECT COUNT(*) AS n FROM {table}"))[0]["n"])


async def post(app: Harness, path: str, body: Any, key: str) -> tuple[int, dict[str, Any]]:
    resp = await app.call("POST", path, body=body, headers={"Idempotency-Key": key})
    return resp.status, await resp.json(content_type=None)


def assert_key_reused(status: int, answer: dict[str, Any]) -> None:
    assert status == 422, answer
    assert answer["type"] == REUSED
    assert answer["errors"] == [{"field": "Idempotency-Key", "message": answer["errors"][0]["message"]}]
    assert "different request" in answer["detail"]


async def test_twenty_requests_at_once_with_one_key_and_body_create_once_and_all_get_its_answer(
    app: Harness,
) -> None:
    answers = await asyncio.gather(*(post(app, PUBLISH, to("a@example.com"), "order-1") for _ in range(CONCURRENT)))
    assert {status for status, _ in answers} == {202}
    assert len({json.dumps(answer, sort_keys=True) for _, answer in answers}) == 1
    assert await count(app) == 1 and await count(app, "deliveries") == 1
    [delivery] = await app.rows("SELECT notification_id FROM deliveries")
    assert answers[0][1]["notifications"][0]["id"] == delivery["notification_id"]


async def test_twenty_requests_at_once_with_one_key_and_different_bodies_create_exactly_one(app: Harness) -> None:
    bodies = [to(f"user{i}@example.com") for i in range(CONCURRENT)]
    answers = await asyncio.gather(*(post(app, PUBLISH, body, "order-2") for body in bodies))
    accepted = [(i, answer) for i, (status, answer) in enumerate(answers) if status == 202]
    assert len(accepted) == 1, [status for status, _ in answers]
    for status, answer in answers:
        if status != 202:
            assert_key_reused(status, answer)
    [(winner, answer)] = accepted
    [row] = await app.rows("SELECT id, recipient FROM notifications")
    assert json.loads(row["recipient"]) == {"email": f"user{winner}@example.com"}
    assert answer["notifications"][0]["id"] == row["id"]


async def test_the_same_key_with_another_body_is_a_422_and_the_first_answer_stands(app: Harness) -> None:
    status, first = await post(app, PUBLISH, to("ann@example.com"), "k")
    assert status == 202
    assert_key_reused(*await post(app, PUBLISH, to("bob@example.com"), "k"))
    assert_key_reused(*await post(app, PUBLISH, {**to("ann@example.com"), "content": SMS}, "k"))
    assert await count(app) == 1
    assert await post(app, PUBLISH, to("ann@example.com"), "k") == (202, first)


async def test_key_order_spacing_and_explicit_nulls_do_not_make_another_request(app: Harness) -> None:
    status, first = await post(app, PUBLISH, to("ann@example.com"), "k")
    assert status == 202
    same = '{ "content": {"email": {"text": "/var is 95% full", "subject": "Disk alert"}},\n'
    same += '  "priority": null, "to": {"email": "ann@example.com"} }'
    resp = await app.client.post(
        PUBLISH, data=same, headers=app.headers(**{"Idempotency-Key": "k", "Content-Type": "application/json"})
    )
    assert resp.status == 202 and await resp.json() == first
    assert await count(app) == 1


async def test_a_key_used_on_publish_cannot_be_reused_for_a_bulk_send(app: Harness) -> None:
    body = {"to": [{"email": "ann@example.com"}], "content": EMAIL}
    assert (await post(app, PUBLISH, body, "k"))[0] == 202
    assert_key_reused(*await post(app, BULK, body, "k"))
    assert await count(app, "batches") == 0


async def test_a_bulk_key_replays_its_batch_for_the_same_body_and_refuses_another(app: Harness) -> None:
    body = {"to": [{"email": f"u{i}@example.com"} for i in range(3)], "content": EMAIL}
    answers = await asyncio.gather(*(post(app, BULK, body, "promo") for _ in range(CONCURRENT)))
    assert {status for status, _ in answers} == {202}
    assert len({answer["batch_id"] for _, answer in answers}) == 1
    other = {**body, "to": [{"email": "someone-else@example.com"}]}
    assert_key_reused(*await post(app, BULK, other, "promo"))
    assert await count(app, "batches") == 1


async def test_a_repeat_gets_its_first_answer_even_when_it_would_no_longer_validate(app: Harness) -> None:
    template = {"key": "welcome", "name": "Welcome", "channels": {"email": {"subject": "Hi", "text": "Hello"}}}
    assert (await app.call("POST", "/v1/templates", "admin", template)).status == 201
    body = {"to": {"email": "ann@example.com"}, "template": "welcome"}
    status, first = await post(app, PUBLISH, body, "k")
    assert status == 202
    assert (await app.call("DELETE", "/v1/templates/welcome", "admin")).status == 204
    assert (await post(app, PUBLISH, body, "other-key"))[0] == 422  # the template is gone
    assert await post(app, PUBLISH, body, "k") == (202, first)


async def test_a_key_is_forgotten_after_a_day(start_app: StartApp) -> None:
    clock = FakeClock(1_800_000_000.0)
    app = await start_app(clock=clock)
    assert (await post(app, PUBLISH, to("ann@example.com"), "k"))[0] == 202
    clock.t += TTL_SECONDS + 1
    status, answer = await post(app, PUBLISH, to("bob@example.com"), "k")
    assert status == 202 and answer["notifications"][0]["recipient"] == {"email": "bob@example.com"}
    assert await count(app) == 2


async def test_a_key_stored_before_fingerprints_is_still_honoured(app: Harness) -> None:
    status, first = await post(app, PUBLISH, to("ann@example.com"), "k")
    assert status == 202
    await app.svc.database.write(lambda conn: conn.execute("UPDATE idempotency_keys SET fingerprint = NULL"))
    assert await post(app, PUBLISH, to("bob@example.com"), "k") == (202, first)
    assert await count(app) == 1
