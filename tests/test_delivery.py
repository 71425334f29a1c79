"""Delivery through the queue: priority order, retries with backoff, the DLQ and replay."""

from __future__ import annotations

import random
from datetime import datetime

from alertflow.delivery.deliverer import backoff_delay
from tests.conftest import EMAIL, Harness, Script, StartApp

FAST_RETRIES = {"backoff_base_seconds": 0.05, "backoff_max_seconds": 0.4}


async def scripted_app(start_app: StartApp, script: Script, **sections: object) -> Harness:
    return await start_app(providers={"email": script.provider()}, **sections)


def test_backoff_grows_exponentially_within_full_jitter_and_is_capped() -> None:
    rng = random.Random(7)
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (10, 30.0)):
        delays = [backoff_delay(attempt, 1.0, 30.0, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling * 0.8  # the jitter spans the whole window


async def test_high_priority_overtakes_queued_low_priority(start_app: StartApp, script: Script) -> None:
    script.set(delay=0.005)
    app = await scripted_app(start_app, script, workers={"email": 1})
    lows = await app.publish(
        {
            "to": [{"email": f"l{i}@example.com"} for i in range(100)],
            "content": EMAIL,
            "priority": "low",
        }
    )
    highs = await app.publish(
        {
            "to": [{"email": f"h{i}@example.com"} for i in range(5)],
            "content": EMAIL,
            "priority": "high",
        }
    )
    await app.until(lambda: len(script.sends()) == 105)
    order = [s["priority"] for s in script.sends()]
    first_high = order.index("high")
    assert order[first_high : first_high + 5] == ["high"] * 5, order
    assert order.count("low") - first_high >= 50, "the highs should not have waited for most lows"
    assert len(lows["notifications"]) == 100 and len(highs["notifications"]) == 5


async def test_a_transient_failure_is_retried_with_backoff_until_sent(start_app: StartApp, script: Script) -> None:
    script.set(fail="retry", fail_first=2)
    app = await scripted_app(start_app, script, queue=FAST_RETRIES)
    nid = (await app.publish({"to": {"email": "a@example.com"}, "content": EMAIL}))["notifications"][0]["id"]
    done = await app.settled(nid)
    [delivery] = done["deliveries"]
    assert delivery["status"] == "sent"
    assert [a["outcome"] for a in delivery["attempts"]] == ["retry", "retry", "sent"]
    sends = script.sends()
    retries = [d for _, d in app.decisions if d.status == "queued"]
    for n, (decision, next_send) in enumerate(zip(retries, sends[1:], strict=True), start=1):
        assert decision.retry_at is not None
        assert next_send["at"] >= decision.retry_at - 0.01, "retried before its backoff ended"
        # The attempt row is stamped right after the decision (no await between them), and
        # to the millisecond below: so the delay is measured exactly, however loaded the machine.
        decided_at = datetime.fromisoformat(delivery["attempts"][n - 1]["at"]).timestamp()
        assert decision.retry_at - decided_at <= min(0.4, 0.05 * 2 ** (n - 1)) + 0.001


async def test_a_rate_limited_send_waits_for_the_providers_retry_after(start_app: StartApp, script: Script) -> None:
    script.set(fail="rate_limited", fail_first=1, retry_after=0.3)
    app = await scripted_app(start_app, script, queue=FAST_RETRIES)
    nid = (await app.publish({"to": {"email": "a@example.com"}, "content": EMAIL}))["notifications"][0]["id"]
    done = await app.settled(nid)
    assert [a["outcome"] for a in done["deliveries"][0]["attempts"]] == ["rate_limited", "sent"]
    first, second = script.sends()
    assert second["at"] - first["at"] >= 0.3


async def test_a_delivery_that_keeps_failing_goes_dead_to_the_dlq_and_replays(
    start_app: StartApp, script: Script
) -> None:
    script.set(fail="retry")
    app = await scripted_app(start_app, script, queue={**FAST_RETRIES, "max_attempts": 3})
    nid = (await app.publish({"to": {"email": "a@example.com"}, "content": EMAIL}))["notifications"][0]["id"]
    done = await app.settled(nid)
    [delivery] = done["deliveries"]
    assert delivery["status"] == "dead"
    assert [a["outcome"] for a in delivery["attempts"]] == ["retry", "retry", "dead"], "the last try sent it to the DLQ"
    assert delivery["attempts"][-1]["error"] == delivery["reason"] == "scripted transient failure"
    dlq = await (await app.call("GET", "/v1/dlq")).json()
    assert [e["delivery_id"] for e in dlq["items"]] == [delivery["id"]]
    assert (await app.rows("SELECT COUNT(*) AS n FROM jobs"))[0]["n"] == 0

    script.set()  # the provider recovers
    resp = await app.call("POST", f"/v1/dlq/{delivery['id']}/replay", "admin")
    assert resp.status == 202
    done = await app.settled(nid)
    assert done["deliveries"][0]["status"] == "sent"
    history = done["deliveries"][0]["attempts"]
    assert [a["outcome"] for a in history] == ["retry", "retry", "dead", "replayed", "sent"]
    assert history[3]["at"] >= history[2]["at"] and history[3]["provider"] is None
    assert (await (await app.call("GET", "/v1/dlq")).json())["items"] == []
    assert (await app.call("POST", f"/v1/dlq/{delivery['id']}/replay", "admin")).status == 404


async def test_replay_all_with_a_filter_and_delete(start_app: StartApp, script: Script) -> None:
    script.set(fail="retry")
    app = await scripted_app(start_app, script, queue={**FAST_RETRIES, "max_attempts": 1})
    out = await app.publish({"to": [{"email": "a@example.com"}, {"email": "b@example.com"}], "content": EMAIL})
    for n in out["notifications"]:
        await app.settled(n["id"])
    dead = [e["delivery_id"] for e in (await (await app.call("GET", "/v1/dlq")).json())["items"]]
    assert len(dead) == 2
    assert (await app.call("DELETE", f"/v1/dlq/{dead[0]}", "member")).status == 403
    assert (await app.call("DELETE", f"/v1/dlq/{dead[0]}", "admin")).status == 204
    assert (await app.call("DELETE", f"/v1/dlq/{dead[0]}", "admin")).status == 404
    script.set()
    resp = await app.call("POST", "/v1/dlq/replay", "admin", {"channel": "email"})
    assert (await resp.json())["replayed"] == [dead[1]]
    settled = [await app.settled(n["id"]) for n in out["notifications"]]
    [history] = [n["deliveries"][0]["attempts"] for n in settled if n["deliveries"][0]["id"] == dead[1]]
    assert [a["outcome"] for a in history] == ["dead", "replayed", "sent"]
    bad = await app.call("POST", "/v1/dlq/replay", "admin", {"channel": "carrier-pigeon"})
    assert bad.status == 422


async def test_a_permanent_failure_ends_failed_after_one_try(start_app: StartApp, script: Script) -> None:
    script.set(fail="permanent")
    app = await scripted_app(start_app, script, queue=FAST_RETRIES)
    nid = (await app.publish({"to": {"email": "a@example.com"}, "content": EMAIL}))["notifications"][0]["id"]
    done = await app.settled(nid)
    [delivery] = done["deliveries"]
    assert delivery["status"] == "failed" and len(delivery["attempts"]) == 1
    assert delivery["reason"] == "scripted permanent failure"
    assert len(script.sends()) == 1
    assert (await (await app.call("GET", "/v1/dlq")).json())["items"] == []


async def test_a_scheduled_notification_is_sent_after_its_time_not_before(app: Harness) -> None:
    now = app.svc.clock.now()
    from datetime import UTC, datetime

    send_at = datetime.fromtimestamp(now + 0.5, UTC).isoformat()
    nid = (await app.publish({"to": {"email": "a@example.com"}, "content": EMAIL, "send_at": send_at}))[
        "notifications"
    ][0]["id"]
    done = await app.settled(nid)
    sent_at = datetime.fromisoformat(done["deliveries"][0]["sent_at"].replace("Z", "+00:00")).timestamp()
    assert sent_at >= now + 0.5


async def test_a_failover_provider_delivers_when_the_primary_fails(
    start_app: StartApp, script: Script, tmp_path: object
) -> None:
    script.set(fail="retry")
    app = await start_app(providers={"email": [script.provider(), {"type": "outbox"}]})
    nid = (await app.publish({"to": {"email": "a@example.com"}, "content": EMAIL}))["notifications"][0]["id"]
    done = await app.settled(nid)
    [delivery] = done["deliveries"]
    assert delivery["status"] == "sent" and delivery["provider"] == "outbox"
    assert [(a["outcome"], a["provider"]) for a in delivery["attempts"]] == [
        ("failed_over", "scripted"),
        ("sent", "outbox"),
    ]
