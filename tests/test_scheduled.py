"""Scheduled sends: each recipient's local time, and a cancelled one never goes out."""

from __future__ import annotations

from datetime import UTC, datetime

from alertflow.storage import jobs as stored_jobs
from tests.conftest import EMAIL, FakeClock, Script, StartApp
from tests.test_bulk import batch, bulk, emails, finished

NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC).timestamp()


async def test_send_at_local_is_read_in_each_recipients_timezone(start_app: StartApp) -> None:
    app = await start_app(clock=FakeClock(NOON))
    for user, zone in (("tokyo", "Asia/Tokyo"), ("nyc", "America/New_York")):
        await app.call("PUT", f"/v1/users/{user}", "admin", {"email": f"{user}@example.com", "timezone": zone})
    out = await app.publish(
        {"to": [{"user_id": "tokyo"}, {"user_id": "nyc"}], "content": EMAIL, "send_at_local": "2026-12-01T09:00"}
    )
    send_at = [(await app.notification(n["id"]))["send_at"] for n in out["notifications"]]
    assert send_at == ["2026-12-01T00:00:00.000Z", "2026-12-01T14:00:00.000Z"]


async def test_a_cancelled_scheduled_notification_stays_unsent_when_its_time_comes(
    start_app: StartApp, script: Script
) -> None:
    clock = FakeClock(NOON)
    app = await start_app(clock=clock, providers={"email": script.provider()})
    at = datetime.fromtimestamp(NOON + 60, UTC).isoformat()

    async def schedule(who: str) -> str:
        out = await app.publish({"to": {"email": f"{who}@example.com"}, "content": EMAIL, "send_at": at})
        return str(out["notifications"][0]["id"])

    cancelled, kept = await schedule("cancelled"), await schedule("kept")
    resp = await app.call("POST", f"/v1/notifications/{cancelled}/cancel", "member")
    assert [d["status"] for d in (await resp.json())["deliveries"]] == ["cancelled"]

    clock.t = NOON + 61
    assert app.svc.pools is not None
    app.svc.pools.scheduled()
    assert (await app.settled(kept))["status"] == "sent"
    assert [s["notification_id"] for s in script.sends()] == [kept]
    assert (await app.notification(cancelled))["status"] == "cancelled"


async def test_a_scheduled_bulk_falls_due_a_chunk_at_a_time_and_all_of_it_is_sent(start_app: StartApp) -> None:
    clock = FakeClock(NOON)
    app = await start_app(clock=clock)
    at = datetime.fromtimestamp(NOON + 60, UTC).isoformat()
    count = 2 * stored_jobs.PROMOTE_CHUNK + 1  # three promotions
    accepted = await bulk(app, {"to": emails(count), "content": EMAIL, "send_at": at})

    async def waiting() -> bool:
        return (await batch(app, accepted["batch_id"]))["counts"] == {"scheduled": count}

    await app.until(waiting)
    clock.t = NOON + 61
    assert app.svc.pools is not None
    app.svc.pools.scheduled()
    assert (await finished(app, accepted["batch_id"]))["counts"] == {"sent": count}
