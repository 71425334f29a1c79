"""Cron schedules: each firing enqueues one batch, once, whatever fires twice or restarts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from alertflow.intake.scheduler import _record, trigger
from alertflow.storage import schedules
from tests.conftest import EMAIL, FakeClock, Harness, StartApp, add_tenant
from tests.test_bulk import emails, finished

WEEK = 7 * 24 * 3600
# Monday 30 March 2026, 08:59:30 in Paris (summer time began the day before: UTC+2).
MONDAY_BEFORE_NINE = datetime(2026, 3, 30, 6, 59, 30, tzinfo=UTC).timestamp()
MONDAY_NINE = datetime(2026, 3, 30, 7, 0, tzinfo=UTC).timestamp()
DIGEST = {
    "name": "weekly digest",
    "cron": "0 9 * * 1",  # Mondays (crontab numbering: 0 is Sunday) at 09:00
    "timezone": "Europe/Paris",
    "to": emails(3),
    "content": EMAIL,
    "category": "marketing",
}


async def create(app: Harness, body: dict[str, Any]) -> dict[str, Any]:
    resp = await app.call("POST", "/v1/schedules", "admin", body)
    assert resp.status == 201, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


async def batch_ids(app: Harness) -> list[str]:
    return [r["id"] for r in await app.rows("SELECT id FROM batches ORDER BY id")]


async def test_a_cron_schedule_fires_once_per_period_and_not_twice_across_a_restart(start_app: StartApp) -> None:
    clock = FakeClock(MONDAY_BEFORE_NINE)
    app = await start_app(clock=clock)
    schedule = await create(app, DIGEST)
    assert schedule["next_fire_at"] == "2026-03-30T07:00:00.000Z"
    assert app.svc.scheduler is not None
    assert await app.svc.scheduler.fire_due() == [], "not before its time"

    clock.t = MONDAY_NINE + 0.4
    [first] = await app.svc.scheduler.fire_due()
    assert await app.svc.scheduler.fire_due() == [], "once per period"
    assert await app.svc.scheduler.fire(schedule["id"], MONDAY_NINE) is None, "a double firing is dropped"

    app = await start_app(clock=clock, restart=app)  # a restart within the same period
    assert await batch_ids(app) == [first], "a restart does not fire it again"

    clock.t = MONDAY_NINE + WEEK
    [second] = await app.svc.scheduler.fire_due()
    for batch_id in (first, second):
        assert (await finished(app, batch_id))["counts"] == {"sent": 3}
    got = await (await app.call("GET", f"/v1/schedules/{schedule['id']}", "member")).json()
    assert got["last_batch_id"] == second and got["next_fire_at"] == "2026-04-13T07:00:00.000Z"


async def test_firings_missed_while_down_coalesce_into_one(start_app: StartApp) -> None:
    clock = FakeClock(MONDAY_BEFORE_NINE)
    app = await start_app(clock=clock)
    schedule = await create(app, DIGEST)
    await app.client.close()

    clock.t = MONDAY_NINE + 3 * WEEK + 3600  # down for three Mondays
    app = await start_app(clock=clock, restart=app)
    [caught_up] = await batch_ids(app)
    got = await (await app.call("GET", f"/v1/schedules/{schedule['id']}", "member")).json()
    assert got["last_batch_id"] == caught_up
    assert got["last_fire_at"] == "2026-03-30T07:00:00.000Z", "fired once, for the first time it missed"
    assert got["next_fire_at"] == "2026-04-27T07:00:00.000Z", "then on from now"


async def test_each_schedule_is_armed_in_apscheduler_in_its_timezone(app: Harness) -> None:
    schedule = await create(app, DIGEST)
    assert app.svc.scheduler is not None and app.svc.scheduler._aps is not None
    job = app.svc.scheduler._aps.get_job(schedule["id"])
    assert job.next_run_time.timestamp() == datetime.fromisoformat(schedule["next_fire_at"]).timestamp()
    assert job.next_run_time.astimezone(trigger("0 9 * * 1", "Europe/Paris").timezone).hour == 9
    assert job.next_run_time.weekday() == 0, "Monday, as crontab numbers it"


async def test_pause_skips_firings_and_resume_starts_from_now(start_app: StartApp) -> None:
    clock = FakeClock(MONDAY_BEFORE_NINE)
    app = await start_app(clock=clock)
    sid = (await create(app, DIGEST))["id"]
    paused = await (await app.call("POST", f"/v1/schedules/{sid}/pause", "admin")).json()
    assert paused["paused"] is True
    assert app.svc.scheduler is not None and app.svc.scheduler._aps is not None
    assert app.svc.scheduler._aps.get_job(sid) is None
    clock.t = MONDAY_NINE + WEEK + 60
    assert await app.svc.scheduler.fire_due() == []

    resumed = await (await app.call("POST", f"/v1/schedules/{sid}/resume", "admin")).json()
    assert resumed["paused"] is False and resumed["next_fire_at"] == "2026-04-13T07:00:00.000Z"
    assert await batch_ids(app) == []


async def test_a_firing_that_cannot_send_says_why_and_moves_on(start_app: StartApp) -> None:
    clock = FakeClock(MONDAY_BEFORE_NINE)
    app = await start_app(clock=clock)
    await app.call("PUT", "/v1/topics/digest/subscribers", "admin", {"user_ids": ["u1"]})
    body = {**DIGEST, "topic": "digest"}
    del body["to"]
    sid = (await create(app, body))["id"]
    await app.call("DELETE", "/v1/topics/digest/subscribers", "admin")
    clock.t = MONDAY_NINE
    assert await app.svc.scheduler.fire_due() == []  # type: ignore[union-attr]
    got = await (await app.call("GET", f"/v1/schedules/{sid}", "member")).json()
    assert "no subscribers" in got["last_error"] and got["next_fire_at"] == "2026-04-06T07:00:00.000Z"


async def test_schedule_fields_are_validated_naming_the_field(app: Harness) -> None:
    for change, field in (
        ({"cron": "61 * * * *"}, "cron"),
        ({"cron": "0 9 * *"}, "cron"),
        ({"cron": "0 9 * * 8"}, "cron"),
        # Crons that never fire: no such date, in any year.
        ({"cron": "0 0 31 2 *"}, "cron"),
        ({"cron": "*/5 * 30 2 *"}, "cron"),
        ({"cron": "0 0 31 4,6,9,11 *"}, "cron"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"send_at": "2026-04-01T09:00:00Z"}, "send_at"),
        ({"name": ""}, "name"),
        ({"to": None, "topic": "nobody"}, "topic"),
        ({"content": {"email": {"subject": "{{week}}", "text": "."}}}, "data.week"),
    ):
        resp = await app.call("POST", "/v1/schedules", "admin", {**DIGEST, **change})
        assert resp.status == 422, await resp.text()
        assert field in [e["field"] for e in (await resp.json())["errors"]], await resp.text()
    assert (await (await app.call("GET", "/v1/schedules", "member")).json())["items"] == []


async def test_a_cron_that_fires_rarely_is_accepted_with_its_first_firing(app: Harness) -> None:
    # 29 February that falls on a Monday: next in 2044, the rarest date five fields can name.
    leap_monday = await create(app, {**DIGEST, "cron": "0 9 29 2 1"})
    assert leap_monday["next_fire_at"].startswith("2044-02-29T")
    leap_day = await create(app, {**DIGEST, "cron": "0 0 29 2 *", "timezone": "UTC"})
    assert leap_day["next_fire_at"] == "2028-02-29T00:00:00.000Z"


async def test_admins_write_members_read_and_other_tenants_see_nothing(app: Harness) -> None:
    assert (await app.call("POST", "/v1/schedules", "member", DIGEST)).status == 403
    sid = (await create(app, DIGEST))["id"]
    for action in ("pause", "resume"):
        assert (await app.call("POST", f"/v1/schedules/{sid}/{action}", "member")).status == 403
    assert (await app.call("DELETE", f"/v1/schedules/{sid}", "member")).status == 403
    listed = await (await app.call("GET", "/v1/schedules", "member")).json()
    assert [(s["id"], s["recipients"], "to" in s) for s in listed["items"]] == [(sid, 3, False)]

    _, keys = await add_tenant(app.svc, "other")
    headers = {"Authorization": f"Bearer {keys['owner']}"}
    for method, path in (("GET", ""), ("DELETE", ""), ("POST", "/pause"), ("POST", "/resume")):
        assert (await app.client.request(method, f"/v1/schedules/{sid}{path}", headers=headers)).status == 404

    assert (await app.call("DELETE", f"/v1/schedules/{sid}", "admin")).status == 204
    assert (await app.call("GET", f"/v1/schedules/{sid}", "member")).status == 404
    assert app.svc.scheduler is not None and app.svc.scheduler._aps is not None
    assert app.svc.scheduler._aps.get_job(sid) is None


# The five Mondays at 09:00 in Paris from MONDAY_BEFORE_NINE: 07:00 UTC, summer time all along.
FIVE_MONDAYS = [f"2026-{day}T07:00:00.000Z" for day in ("03-30", "04-06", "04-13", "04-20", "04-27")]


async def test_a_schedule_shows_its_next_five_firings_and_none_while_paused(start_app: StartApp) -> None:
    app = await start_app(clock=FakeClock(MONDAY_BEFORE_NINE))
    created = await create(app, DIGEST)
    assert created["next_fires"] == FIVE_MONDAYS
    sid = created["id"]
    got = await (await app.call("GET", f"/v1/schedules/{sid}", "member")).json()
    assert got["next_fires"] == FIVE_MONDAYS and got["next_fire_at"] == FIVE_MONDAYS[0]
    paused = await (await app.call("POST", f"/v1/schedules/{sid}/pause", "admin")).json()
    assert paused["next_fires"] == []
    assert (await (await app.call("GET", f"/v1/schedules/{sid}", "member")).json())["next_fires"] == []
    resumed = await (await app.call("POST", f"/v1/schedules/{sid}/resume", "admin")).json()
    assert resumed["next_fires"] == FIVE_MONDAYS


async def test_a_preview_gives_the_next_five_firings_in_the_zone_across_a_clock_change(start_app: StartApp) -> None:
    # Friday 23 October 2026, noon UTC: Berlin leaves summer time on Sunday the 25th at 03:00.
    app = await start_app(clock=FakeClock(datetime(2026, 10, 23, 12, tzinfo=UTC).timestamp()))
    resp = await app.call(
        "GET", "/v1/schedules/preview", "member", params={"cron": "0 9 * * *", "timezone": "Europe/Berlin"}
    )
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {
        "cron": "0 9 * * *",
        "timezone": "Europe/Berlin",
        "next_fires": [
            "2026-10-24T07:00:00.000Z",  # 09:00 CEST
            "2026-10-25T08:00:00.000Z",  # 09:00 CET
            "2026-10-26T08:00:00.000Z",
            "2026-10-27T08:00:00.000Z",
            "2026-10-28T08:00:00.000Z",
        ],
    }
    utc = await (await app.call("GET", "/v1/schedules/preview", "member", params={"cron": "0 9 * * *"})).json()
    assert utc["timezone"] == "UTC" and utc["next_fires"][0] == "2026-10-24T09:00:00.000Z"


async def test_a_preview_names_a_bad_cron_or_timezone(app: Harness) -> None:
    for query, fields in (
        ({"cron": "0 9 * *", "timezone": "UTC"}, ["cron"]),
        ({"cron": "61 * * * *"}, ["cron"]),
        ({"cron": "0 0 31 2 *"}, ["cron"]),  # never fires
        ({"timezone": "UTC"}, ["cron"]),
        ({"cron": "0 9 * * 1", "timezone": "Mars/Olympus_Mons"}, ["timezone"]),
        ({"cron": "nonsense", "timezone": "Mars/Olympus_Mons"}, ["cron", "timezone"]),
    ):
        resp = await app.call("GET", "/v1/schedules/preview", "member", params=query)
        assert resp.status == 422, await resp.text()
        assert [e["field"] for e in (await resp.json())["errors"]] == fields, query


async def test_an_update_changes_the_timing_and_rearms_the_scheduler(start_app: StartApp) -> None:
    clock = FakeClock(MONDAY_BEFORE_NINE)
    app = await start_app(clock=clock)
    sid = (await create(app, DIGEST))["id"]
    changed = {**DIGEST, "name": "daily digest", "cron": "30 8 * * *", "to": emails(2)}
    resp = await app.call("PUT", f"/v1/schedules/{sid}", "admin", changed)
    assert resp.status == 200, await resp.text()
    updated = await resp.json()
    # 08:30 in Paris has passed this Monday: tomorrow is the first.
    assert updated["next_fire_at"] == "2026-03-31T06:30:00.000Z"
    assert updated["next_fires"][1] == "2026-04-01T06:30:00.000Z"
    assert (updated["name"], updated["cron"], updated["recipients"], updated["paused"]) == (
        "daily digest",
        "30 8 * * *",
        2,
        False,
    )
    assert app.svc.scheduler is not None and app.svc.scheduler._aps is not None
    woken_at = app.svc.scheduler._aps.get_job(sid).next_run_time  # APScheduler runs on the real clock
    assert (woken_at.hour, woken_at.minute, str(woken_at.tzinfo)) == (8, 30, "Europe/Paris"), "re-armed at the new time"

    clock.t = MONDAY_NINE + 1
    assert await app.svc.scheduler.fire_due() == [], "the old Monday 09:00 is gone"
    clock.t = datetime.fromisoformat(updated["next_fire_at"]).timestamp()
    [fired] = await app.svc.scheduler.fire_due()
    assert (await finished(app, fired))["counts"] == {"sent": 2}, "the new recipients"
    shown = await (await app.call("GET", f"/v1/schedules/{sid}", "member")).json()
    assert shown["last_batch_id"] == fired and shown["next_fire_at"] == "2026-04-01T06:30:00.000Z"


async def test_an_updated_paused_schedule_stays_paused_and_unarmed(app: Harness) -> None:
    sid = (await create(app, DIGEST))["id"]
    await app.call("POST", f"/v1/schedules/{sid}/pause", "admin")
    resp = await app.call("PUT", f"/v1/schedules/{sid}", "admin", {**DIGEST, "cron": "0 7 * * *"})
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["paused"] is True
    assert app.svc.scheduler is not None and app.svc.scheduler._aps is not None
    assert app.svc.scheduler._aps.get_job(sid) is None


async def test_an_update_is_refused_naming_the_field_for_members_and_across_tenants(app: Harness) -> None:
    sid = (await create(app, DIGEST))["id"]
    before = await (await app.call("GET", f"/v1/schedules/{sid}", "member")).json()
    for change, field in (
        ({"cron": "0 9 * *"}, "cron"),
        ({"cron": "0 0 31 2 *"}, "cron"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"id": "sch_someone_else"}, "id"),
        ({"content": {"email": {"subject": "{{week}}", "text": "."}}}, "data.week"),
    ):
        resp = await app.call("PUT", f"/v1/schedules/{sid}", "admin", {**DIGEST, **change})
        assert resp.status == 422, await resp.text()
        assert field in [e["field"] for e in (await resp.json())["errors"]], await resp.text()
    assert (await app.call("PUT", f"/v1/schedules/{sid}", "member", DIGEST)).status == 403
    assert (await app.call("PUT", "/v1/schedules/sch_nope", "admin", DIGEST)).status == 404
    _, keys = await add_tenant(app.svc, "other")
    headers = {"Authorization": f"Bearer {keys['owner']}"}
    assert (await app.client.put(f"/v1/schedules/{sid}", json=DIGEST, headers=headers)).status == 404
    after = await (await app.call("GET", f"/v1/schedules/{sid}", "member")).json()
    assert after == before, "nothing refused changed it"


async def test_what_get_shows_of_a_schedule_can_be_put_back_changed(app: Harness) -> None:
    sid = (await create(app, DIGEST))["id"]
    shown = await (await app.call("GET", f"/v1/schedules/{sid}", "member")).json()
    resp = await app.call("PUT", f"/v1/schedules/{sid}", "admin", {**shown, "name": "renamed"})
    assert resp.status == 200, await resp.text()
    again = await (await app.call("GET", f"/v1/schedules/{sid}", "member")).json()
    assert again == {**shown, "name": "renamed", "updated_at": again["updated_at"]}


async def test_a_firing_that_ran_while_its_schedule_was_edited_leaves_the_new_timing(start_app: StartApp) -> None:
    clock = FakeClock(MONDAY_NINE)
    app = await start_app(clock=clock)
    sid = (await create(app, {**DIGEST, "cron": "0 10 * * 1"}))["id"]
    read_by_the_firing = await schedules.get(app.svc.database, sid)
    assert read_by_the_firing is not None
    edited = await (await app.call("PUT", f"/v1/schedules/{sid}", "admin", {**DIGEST, "cron": "30 8 * * *"})).json()
    # The firing, found with the old cron, commits after the edit.
    old_following = MONDAY_NINE + 3600 + WEEK
    await app.svc.database.write(
        lambda tx: _record(tx, read_by_the_firing, None, "cannot send", MONDAY_NINE + 3600, old_following, clock.t)
    )
    shown = await (await app.call("GET", f"/v1/schedules/{sid}", "member")).json()
    assert shown["next_fire_at"] == edited["next_fire_at"] == "2026-03-31T06:30:00.000Z"
    assert (shown["last_fire_at"], shown["last_error"]) == ("2026-03-30T08:00:00.000Z", "cannot send")
