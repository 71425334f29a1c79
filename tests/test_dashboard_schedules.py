"""The Schedules and Batches pages in a real browser (Debian's chromium driven by Playwright):
a schedule made and edited through the form with its next firings in its own timezone, a bulk
send watched to its end without a reload, a batch cancelled, and what a member may not do."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tests.conftest import EMAIL, FakeClock, Harness, StartApp
from tests.test_bulk import emails
from tests.test_dashboard_browser import sign_in

BERLIN = "Europe/Berlin"


def firings(hour: int, minute: int, weekdays: range | tuple[int, ...] = range(7), count: int = 5) -> list[str]:
    """The next ``count`` times a daily cron at hour:minute on ``weekdays`` (Monday = 0) fires
    in Berlin after now, as the API writes them."""
    zone, now = ZoneInfo(BERLIN), datetime.now(UTC)
    day, found = now.astimezone(zone).date(), []
    while len(found) < count:
        at = datetime.combine(day, time(hour, minute), zone)
        if at > now and at.weekday() in weekdays:
            found.append(at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"))
        day += timedelta(days=1)
    return found


def policy_errors(page: Any) -> list[str]:
    """Content-Security-Policy complaints the page logs from now on."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    return errors


async def signed_in(page: Any, app: Harness, role: str) -> None:
    """Signed in, with the overview drawn: a page opened while it still loads may be drawn over."""
    from playwright.async_api import expect

    await sign_in(page, app, role)
    await expect(page.locator(".cards")).to_be_visible()


async def shown_fires(page: Any) -> list[str]:
    return [await t.get_attribute("datetime") for t in await page.locator("#next-fires li time").all()]


async def ok(resp: Any) -> Any:
    assert resp.status in (200, 201, 202), await resp.text()
    return await resp.json()


async def test_an_admin_makes_a_berlin_schedule_sees_its_next_five_firings_edits_it_and_a_bad_cron_saves_nothing(
    app: Harness, browser: Any
) -> None:
    from playwright.async_api import expect

    page = await browser.new_page(
        viewport={"width": 1200, "height": 900}, timezone_id="America/New_York", locale="en-GB"
    )
    errors = policy_errors(page)
    await signed_in(page, app, "admin")
    await page.click("nav >> text=Schedules")
    await expect(page.locator("#schedules-empty")).to_contain_text("New schedule")
    await page.click("#new-schedule")
    editor = page.locator("form#schedule-editor")
    await expect(editor.locator("select[name=timezone]")).to_have_value("America/New_York"), "the visitor's own zone"
    await expect(page.locator("#next-fires li")).to_have_count(5), "a preview before anything is typed"

    await editor.locator("[name=name]").fill("Weekly digest")
    await editor.locator("[name=cron]").fill("0 9 * * 1")
    await editor.locator("select[name=timezone]").select_option(BERLIN)
    await editor.locator("[name=to]").fill(json.dumps([{"email": "ann@example.com"}]))
    await editor.locator("[name=content]").fill(json.dumps(EMAIL))
    await editor.locator("button[type=submit]").click()
    await expect(page.locator("#status")).to_have_text("Created.")
    row = page.locator("#schedules tr[data-schedule]")
    await expect(row).to_contain_text("Weekly digest")
    await expect(page.locator("#fires h2")).to_contain_text(BERLIN)
    await expect(page.locator("#next-fires li")).to_have_count(5)
    assert await shown_fires(page) == firings(9, 0, (0,)), "Mondays at 09:00 in Berlin"
    for text in await page.locator("#next-fires li").all_text_contents():
        assert re.search(r"^Mon.*\b09:00 CES?T$", text.strip()), text
    [stored] = (await ok(await app.call("GET", "/v1/schedules", "member")))["items"]
    assert (stored["name"], stored["cron"], stored["timezone"]) == ("Weekly digest", "0 9 * * 1", BERLIN)
    sid = await row.get_attribute("data-schedule")
    assert page.url.endswith(f"#/schedules?id={sid}"), "the saved schedule stays open"

    await editor.locator("[name=cron]").fill("30 7 * * *")
    await expect(page.locator("#next-fires li").first).to_contain_text("07:30"), "the preview follows the typing"
    assert await shown_fires(page) == firings(7, 30)
    await editor.locator("button[type=submit]").click()
    await expect(page.locator("#status")).to_have_text("Saved.")
    await expect(row).to_contain_text("30 7 * * *")
    await expect(page.locator("#next-fires li")).to_have_count(5)
    assert await shown_fires(page) == firings(7, 30), "every day at 07:30 in Berlin"
    saved = await ok(await app.call("GET", f"/v1/schedules/{sid}", "member"))
    assert (saved["cron"], saved["to"], saved["next_fires"]) == (
        "30 7 * * *",
        [{"email": "ann@example.com"}],
        firings(7, 30),
    )

    await editor.locator("[name=cron]").fill("0 9 * *")
    await expect(page.locator("#next-fires-problem")).to_contain_text("cron")
    await editor.locator("button[type=submit]").click()
    await expect(editor.locator(".form-error")).to_contain_text("cron: give five fields")
    await expect(editor.locator("[name=cron]")).to_have_attribute("aria-invalid", "true")
    assert (await ok(await app.call("GET", f"/v1/schedules/{sid}", "member")))["cron"] == "30 7 * * *", "nothing saved"

    page.once("dialog", lambda d: asyncio.ensure_future(d.dismiss()))
    await row.locator("[data-delete]").click()
    await expect(row).to_have_count(1)
    assert len((await ok(await app.call("GET", "/v1/schedules", "member")))["items"]) == 1, "not confirmed: kept"
    page.once("dialog", lambda d: asyncio.ensure_future(d.accept()))
    await row.locator("[data-delete]").click()
    await expect(page.locator("#schedules-empty")).to_be_visible()
    assert (await ok(await app.call("GET", "/v1/schedules", "member")))["items"] == []
    assert errors == [], "no page broke the policy"


async def test_a_bulk_send_shows_in_batches_and_its_progress_bar_reaches_its_end_without_a_reload(
    start_app: StartApp, browser: Any
) -> None:
    from playwright.async_api import expect

    clock = FakeClock(datetime.now(UTC).timestamp())
    app = await start_app(clock=clock)
    # Sent a minute from now: nothing goes out until the test moves the clock on.
    body = {"to": emails(3), "content": EMAIL, "send_at": datetime.fromtimestamp(clock.t + 60, UTC).isoformat()}
    batch_id = (await ok(await app.call("POST", "/v1/notifications/bulk", "member", body)))["batch_id"]
    page = await browser.new_page(viewport={"width": 1200, "height": 900})
    errors = policy_errors(page)
    await signed_in(page, app, "member")
    await page.click("nav >> text=Batches")
    row = page.locator(f"#batches tr[data-batch='{batch_id}']")
    await expect(row.locator(".badge")).to_have_text("sending")
    bar = row.locator("progress")
    await expect(bar).to_have_attribute("max", "3")
    await expect(bar).to_have_attribute("value", "0")
    await page.evaluate("window.stillTheSamePage = true")

    clock.t += 61
    assert app.svc.pools is not None
    app.svc.pools.scheduled()  # the wake-up a real minute would bring
    await expect(row.locator(".badge")).to_have_text("completed")
    await expect(bar).to_have_attribute("value", "3")
    assert await page.evaluate("window.stillTheSamePage === true"), "it got there live, without a reload"

    await row.locator("a").click()
    detail = page.locator("#batch-detail")
    await expect(detail.locator("progress")).to_have_attribute("value", "3")
    await expect(detail.locator("#batch-counts")).to_contain_text(re.compile(r"sent\s*3"))
    await page.locator("#batch-filter select").select_option("cancelled")
    await page.click("#batch-filter button")
    await expect(page.locator("#batches-empty")).to_contain_text("No cancelled batches")
    assert errors == [], "no page broke the policy"


async def test_a_batch_waiting_for_its_send_time_is_cancelled_only_once_confirmed(app: Harness, browser: Any) -> None:
    from playwright.async_api import expect

    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    body = {"to": emails(3), "content": EMAIL, "send_at": tomorrow}
    batch_id = (await ok(await app.call("POST", "/v1/notifications/bulk", "admin", body)))["batch_id"]
    page = await browser.new_page(viewport={"width": 1200, "height": 900})
    errors = policy_errors(page)
    await signed_in(page, app, "admin")
    await page.goto(str(app.client.make_url(f"/#/batches?id={batch_id}")))
    detail = page.locator("#batch-detail")
    await expect(detail.locator("#batch-counts")).to_contain_text(re.compile(r"scheduled\s*3"))
    row = page.locator(f"#batches tr[data-batch='{batch_id}']")

    page.once("dialog", lambda d: asyncio.ensure_future(d.dismiss()))
    await row.locator("[data-cancel]").click()
    await expect(row.locator(".badge")).to_have_text("sending")
    assert (await ok(await app.call("GET", f"/v1/batches/{batch_id}", "member")))["status"] == "sending"

    page.once("dialog", lambda d: asyncio.ensure_future(d.accept()))
    await row.locator("[data-cancel]").click()
    await expect(row.locator(".badge")).to_have_text("cancelled")
    await expect(row.locator("[data-cancel]")).to_have_count(0)
    await expect(detail.locator("#batch-counts")).to_contain_text(re.compile(r"cancelled\s*3"))
    shown = await ok(await app.call("GET", f"/v1/batches/{batch_id}", "member"))
    assert (shown["status"], shown["counts"]) == ("cancelled", {"cancelled": 3})
    assert errors == [], "no page broke the policy"


async def test_a_member_reads_schedules_and_batches_but_has_no_schedule_controls_and_the_api_refuses_them(
    app: Harness, browser: Any
) -> None:
    from playwright.async_api import expect

    digest = {"name": "Weekly digest", "cron": "0 9 * * 1", "timezone": BERLIN, "to": emails(2), "content": EMAIL}
    sid = (await ok(await app.call("POST", "/v1/schedules", "admin", digest)))["id"]
    page = await browser.new_page(viewport={"width": 1200, "height": 900})
    errors = policy_errors(page)
    await signed_in(page, app, "member")
    await expect(page.locator("#pages")).to_contain_text("Batches")
    await page.click("nav >> text=Schedules")
    row = page.locator(f"#schedules tr[data-schedule='{sid}']")
    await expect(row).to_contain_text("Weekly digest")
    await expect(page.locator("#new-schedule")).to_have_count(0)
    await expect(row.locator("[data-toggle], [data-delete]")).to_have_count(0)
    await row.locator("a").first.click()
    await expect(page.locator("#next-fires li")).to_have_count(5)
    assert await shown_fires(page) == firings(9, 0, (0,))
    await expect(page.locator("#schedule-editor [name=cron]")).to_be_disabled()
    await expect(page.locator("#schedule-editor button")).to_have_count(0)

    for method, path, body in (
        ("POST", "/v1/schedules", digest),
        ("PUT", f"/v1/schedules/{sid}", digest),
        ("POST", f"/v1/schedules/{sid}/pause", None),
        ("DELETE", f"/v1/schedules/{sid}", None),
    ):
        assert (await app.call(method, path, "member", body)).status == 403, (method, path)
    preview = await app.call("GET", "/v1/schedules/preview", "member", params={"cron": "0 9 * * 1", "timezone": BERLIN})
    assert (await ok(preview))["next_fires"] == firings(9, 0, (0,)), "a member may preview"

    await page.click("nav >> text=Batches")
    await expect(page.locator("#batches-empty")).to_contain_text("POST /v1/notifications/bulk")
    assert errors == [], "no page broke the policy"


async def test_at_400_px_wide_the_schedule_editor_and_the_batches_do_not_overflow(app: Harness, browser: Any) -> None:
    from playwright.async_api import expect

    digest = {
        "name": "A rather long schedule name that a narrow screen has to wrap somewhere sensible",
        "cron": "0 9 * * 1",
        "timezone": "America/Argentina/ComodRivadavia",  # among the longest names, an alias
        "to": emails(2),
        "content": EMAIL,
    }
    sid = (await ok(await app.call("POST", "/v1/schedules", "admin", digest)))["id"]
    batch_id = (
        await ok(await app.call("POST", "/v1/notifications/bulk", "admin", {"to": emails(2), "content": EMAIL}))
    )["batch_id"]
    page = await browser.new_page(viewport={"width": 400, "height": 800})
    errors = policy_errors(page)

    async def fits(where: str) -> None:
        widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1] == 400, f"{where}: the page is {widths[0]} px wide"

    await signed_in(page, app, "admin")
    await page.goto(str(app.client.make_url(f"/#/schedules?id={sid}")))
    await expect(page.locator("#next-fires li")).to_have_count(5)
    await expect(page.locator("select[name=timezone]")).to_have_value(digest["timezone"])
    await fits("schedule editor")
    await page.click("#new-schedule")
    await expect(page.locator("#schedule-editor h2")).to_have_text("New schedule")
    await fits("new schedule")
    await page.goto(str(app.client.make_url(f"/#/batches?id={batch_id}")))
    await expect(page.locator("#batch-detail progress")).to_be_visible()
    await fits("batches")
    assert errors == [], "no page broke the policy"
