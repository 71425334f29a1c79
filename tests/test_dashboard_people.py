"""The Users, Topics and Settings pages in a real browser (Debian's chromium driven by Playwright):
importing, finding and editing users, their preferences and inbox, topics and categories, the
tenant's preference defaults and retention; and what a member may not do there."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from tests.conftest import EMAIL, Harness, StartApp
from tests.inbox_support import deliver
from tests.signin_support import PASSWORD, add_member
from tests.test_dashboard_browser import sign_in

CSV = (
    "user_id,email,name,timezone\n"
    "u1,ann@example.com,Ann,Europe/Berlin\nu2,bob@example.com,Bob,\nu3,cy@example.com,Cy,\n"
)


async def open_dashboard(browser: Any, app: Harness, role: str = "admin", width: int = 1200) -> tuple[Any, list[str]]:
    """A page signed in with the role's key, and the Content-Security-Policy errors it logs."""
    from playwright.async_api import expect

    page = await browser.new_page(viewport={"width": width, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    await sign_in(page, app, role)
    # The overview drawn first, so that its late answer cannot draw over the page a test opens.
    await expect(page.locator(".cards")).to_be_visible()
    return page, errors


async def go(page: Any, app: Harness, hash_path: str) -> None:
    await page.goto(str(app.client.make_url(f"/{hash_path}")))


async def put_user(app: Harness, user_id: str, **contact: Any) -> None:
    resp = await app.call("PUT", f"/v1/users/{user_id}", "admin", contact)
    assert resp.status == 200, await resp.text()


async def import_csv(app: Harness, text: str) -> None:
    resp = await app.call("POST", "/v1/users/import", "admin", data=text, headers={"Content-Type": "text/csv"})
    assert resp.status == 200, await resp.text()


async def user_ids(app: Harness) -> list[str]:
    resp = await app.call("GET", "/v1/users?limit=500", "member")
    return [u["user_id"] for u in (await resp.json())["items"]]


async def fits(page: Any, where: str) -> None:
    widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1] == 400, f"{where}: the page is {widths[0]} px wide"


async def test_an_admin_imports_pasted_csv_and_a_file_of_ndjson_and_sees_the_report_and_the_rows(
    app: Harness, browser: Any
) -> None:
    from playwright.async_api import expect

    page, errors = await open_dashboard(browser, app)
    await page.click("nav >> text=Users")
    await expect(page.locator("#users-empty")).to_contain_text("import a CSV or NDJSON file")
    form = page.locator("form#import-form")
    await form.locator("select[name=format]").select_option("csv")
    await form.locator("textarea[name=rows]").fill(CSV)
    await form.locator("button").click()
    await expect(page.locator("#import-report")).to_have_text("Imported 3 users.")
    rows = page.locator("#users tr[data-user]")
    await expect(rows).to_have_count(3)
    await expect(page.locator("tr[data-user='u2']")).to_contain_text("bob@example.com")
    await expect(page.locator("tr[data-user='u1']")).to_contain_text("Europe/Berlin")
    assert await user_ids(app) == ["u1", "u2", "u3"]

    await form.locator("select[name=format]").select_option("ndjson")
    ndjson = b'{"user_id": "u4", "email": "dee@example.com", "push_tokens": ["fcm-4"]}\n'
    await form.locator("input[type=file][name=file]").set_input_files(
        files=[{"name": "users.ndjson", "mimeType": "application/x-ndjson", "buffer": ndjson}]
    )
    await form.locator("button").click()
    await expect(page.locator("#import-report")).to_have_text("Imported 1 user.")
    await expect(rows).to_have_count(4)
    await expect(page.locator("tr[data-user='u4'] td").last).to_have_text("1"), "one device"
    assert errors == []


async def test_an_import_with_a_bad_row_names_its_row_and_field_and_imports_nothing(app: Harness, browser: Any) -> None:
    from playwright.async_api import expect

    page, errors = await open_dashboard(browser, app)
    await go(page, app, "#/users")
    bad = CSV.replace("bob@example.com", "bob-at-example")
    await page.fill("#import-form textarea[name=rows]", bad)
    await page.click("#import-form button")
    report = page.locator("#import-report")
    await expect(report).to_contain_text("Nothing was imported: 1 row error.")
    refused = report.locator("#import-errors tr[data-row]")
    await expect(refused).to_have_count(1)
    await expect(refused.locator("td")).to_have_text(["3", "email", re.compile("email")])
    await expect(page.locator("#import-form textarea[name=rows]")).to_have_value(bad), "kept, to correct"
    await expect(page.locator("#users-empty")).to_be_visible()
    assert await user_ids(app) == [], "the good rows were not stored either"

    await page.fill("#import-form textarea[name=rows]", "")
    await page.click("#import-form button")
    await expect(page.locator("#import-form .form-error")).to_have_text("Paste rows or choose a file.")
    await expect(page.locator("#import-form textarea[name=rows]")).to_have_attribute("aria-invalid", "true")
    assert errors == []


async def test_search_finds_a_user_by_email_and_more_pages_the_list(app: Harness, browser: Any) -> None:
    from playwright.async_api import expect

    await import_csv(app, CSV)
    await import_csv(app, "user_id,email\n" + "".join(f"x{i:03},x{i}@example.com\n" for i in range(55)))
    page, errors = await open_dashboard(browser, app)
    await go(page, app, "#/users")
    rows = page.locator("#users tr[data-user]")
    await expect(rows).to_have_count(50)
    await page.click("#more-users")
    await expect(rows).to_have_count(8)
    await expect(rows.last).to_have_attribute("data-user", "x054")

    await page.fill("#user-search input[name=q]", "BOB@example")
    await page.press("#user-search input[name=q]", "Enter")
    await expect(rows).to_have_count(1)
    await expect(rows).to_have_attribute("data-user", "u2")
    assert "q=BOB%40example" in page.url
    await page.fill("#user-search input[name=q]", "nobody-here")
    await page.click("#user-search button")
    await expect(page.locator("#users-empty")).to_contain_text("nobody-here")
    assert errors == []


async def test_the_detail_shows_contact_and_devices_and_turning_a_categorys_email_off_suppresses_it(
    app: Harness, browser: Any
) -> None:
    from playwright.async_api import expect

    contact = {"email": "ann@example.com", "phone": "+15551234567", "name": "Ann", "locale": "de-AT"}
    await put_user(app, "ann", **contact, timezone="Europe/Vienna", push_tokens=["fcm-token-1"])
    page, errors = await open_dashboard(browser, app)
    await go(page, app, "#/users")
    await page.locator("tr[data-user='ann']").press("Enter")
    detail = page.locator("#user-detail")
    for value in [*contact.values(), "Europe/Vienna"]:
        await expect(detail.locator("#user-contact")).to_contain_text(value)
    await expect(detail.locator("#user-devices")).to_contain_text("fcm-token-1")
    assert page.url.endswith("#/users?id=ann")

    email = page.locator("#preferences-form select[name='categories.alerts.channels.email']")
    await expect(email).to_have_value("")
    await expect(page.locator("select[name='categories.otp.channels.email']")).to_be_disabled()
    await email.select_option("off")
    await page.click("#preferences-form button.primary")
    await expect(page.locator("#status")).to_have_text("Preferences saved.")
    resp = await app.call("GET", "/v1/users/ann/preferences", "member")
    assert await resp.json() == {"channels": {}, "categories": {"alerts": {"channels": {"email": False}}}}
    out = await app.publish({"to": {"user_id": "ann"}, "content": EMAIL, "category": "alerts"})
    [delivery] = (await app.settled(out["notifications"][0]["id"]))["deliveries"]
    assert (delivery["status"], delivery["reason"]) == ("suppressed", "preference:category:alerts:channel:email")

    await page.reload()  # the page the browser kept (a 304) still runs
    await expect(email).to_have_value("off")
    assert errors == []


async def test_an_admin_adds_a_user_edits_them_keeping_devices_and_erases_them_after_confirming(
    app: Harness, browser: Any
) -> None:
    from playwright.async_api import expect

    page, errors = await open_dashboard(browser, app)
    await go(page, app, "#/users")
    form = page.locator("form#user-form")
    await form.locator("[name=user_id]").fill("eve")
    await form.locator("[name=email]").fill("eve@example.com")
    await form.locator("[name=push_tokens]").fill("tok-1\ntok-2")
    await form.locator("[name=timezone]").fill("Mars/Olympus")
    await form.locator("button").click()
    await expect(form.locator(".form-error")).to_contain_text("timezone")
    await expect(form.locator("[name=timezone]")).to_have_attribute("aria-invalid", "true")
    await form.locator("[name=timezone]").fill("Europe/Paris")
    await form.locator("button").click()
    await expect(page.locator("#user-devices li")).to_have_count(2)

    await page.fill("#user-form [name=name]", "Eve Ng")
    await page.click("#user-form button")
    await expect(page.locator("#user-contact")).to_contain_text("Eve Ng")
    user = await (await app.call("GET", "/v1/users/eve", "member")).json()
    assert (user["name"], user["email"], user["push_tokens"]) == ("Eve Ng", "eve@example.com", ["tok-1", "tok-2"])

    page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
    await page.click("#erase-user")
    await expect(page.locator("#users-empty")).to_be_visible()
    assert (await app.call("GET", "/v1/users/eve", "member")).status == 404
    assert errors == []


async def test_inbox_items_show_unread_and_mark_read_one_and_all(app: Harness, browser: Any) -> None:
    from playwright.async_api import expect

    await put_user(app, "ann", name="Ann")
    first = await deliver(app, "ann", "Disk alert")
    await deliver(app, "ann", "CPU alert")
    await deliver(app, "ann", "Memory alert")
    page, errors = await open_dashboard(browser, app, "member")
    await go(page, app, "#/users?id=ann")
    items = page.locator("#inbox tr[data-item]")
    await expect(items).to_have_count(3)
    item = page.locator(f"#inbox tr[data-item='{first}']")
    await expect(item).to_contain_text("Disk alert")
    await expect(item.locator(".state")).to_have_text("unread")
    await item.locator("[data-read]").click()
    await expect(item.locator(".state")).to_have_text(re.compile(r"^read \S"))
    await expect(item.locator("[data-read]")).to_have_count(0)
    count = await (await app.call("GET", "/v1/users/ann/inbox/count", "member")).json()
    assert count == {"unread_count": 2}

    await page.click("#read-all")
    await expect(page.locator("#inbox [data-read]")).to_have_count(0)
    count = await (await app.call("GET", "/v1/users/ann/inbox/count", "member")).json()
    assert count == {"unread_count": 0}
    assert errors == []


async def test_a_member_signed_in_with_a_password_marks_an_inbox_item_read(app: Harness, browser: Any) -> None:
    from playwright.async_api import expect

    await put_user(app, "ann", name="Ann")
    item = await deliver(app, "ann")
    await add_member(app, "mo@example.com", "member")
    page = await browser.new_page(viewport={"width": 1200, "height": 900})
    await page.goto(str(app.client.make_url("/login")))
    await page.fill("#email", "mo@example.com")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("#who")).to_have_text("mo@example.com · member")
    await go(page, app, "#/users?id=ann")
    await page.click(f"#inbox tr[data-item='{item}'] [data-read]")
    await expect(page.locator(f"#inbox tr[data-item='{item}'] .state")).to_have_text(re.compile(r"^read \S"))
    count = await (await app.call("GET", "/v1/users/ann/inbox/count", "member")).json()
    assert count == {"unread_count": 0}


async def test_subscribing_two_users_to_a_topic_shows_its_count_and_removing_one_lowers_it(
    app: Harness, browser: Any
) -> None:
    from playwright.async_api import expect

    page, errors = await open_dashboard(browser, app)
    await page.click("nav >> text=Topics")
    await expect(page.locator("#topics-empty")).to_contain_text("subscribe users")
    form = page.locator("form#subscribe-form")
    await form.locator("input[name=topic]").fill("release-notes")
    await form.locator("textarea[name=users]").fill("u1, not/an/id\nu2")
    await form.locator("button").click()
    await expect(form.locator(".form-error")).to_contain_text("“not/an/id”")
    await expect(form.locator("textarea[name=users]")).to_have_attribute("aria-invalid", "true")
    assert (await (await app.call("GET", "/v1/topics", "member")).json())["items"] == []

    await form.locator("textarea[name=users]").fill("u1,\nu2")
    await form.locator("button").click()
    await expect(page.locator("tr[data-topic='release-notes'] .count")).to_have_text("2")
    body = await (await app.call("GET", "/v1/topics/release-notes/subscribers", "member")).json()
    assert body["user_ids"] == ["u1", "u2"]

    await page.click("#topic-detail li[data-subscriber='u1'] [data-remove]")
    await expect(page.locator("tr[data-topic='release-notes'] .count")).to_have_text("1")
    body = await (await app.call("GET", "/v1/topics/release-notes/subscribers", "member")).json()
    assert body["user_ids"] == ["u2"]
    page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
    await page.click("#remove-all")
    await expect(page.locator("#topics-empty")).to_be_visible()
    assert errors == []


async def test_an_admin_creates_a_category_and_changes_it_from_its_row(app: Harness, browser: Any) -> None:
    from playwright.async_api import expect

    page, errors = await open_dashboard(browser, app)
    await go(page, app, "#/topics")
    form = page.locator("form#category-form")
    await form.locator("[name=key]").fill("billing")
    await form.locator("[name=name]").fill("Billing")
    await form.locator("[name=priority]").select_option("high")
    await form.locator("[name=opt_out_allowed]").uncheck()
    await form.locator("[name=options]").fill('{"throttle": {"key": "bills"}}')
    await form.locator("button").click()
    await expect(form.locator(".form-error")).to_contain_text("options.throttle.limit")
    await expect(form.locator("[name=options]")).to_have_attribute("aria-invalid", "true")
    await form.locator("[name=options]").fill('{"throttle": {"key": "bills", "limit": 3, "window_seconds": 60}}')
    await form.locator("button").click()
    row = page.locator("#categories tr[data-category='billing']")
    await expect(row).to_contain_text("Billing")
    await expect(row).to_contain_text("not allowed")
    category = await (await app.call("GET", "/v1/categories/billing", "member")).json()
    assert category == {
        "key": "billing",
        "name": "Billing",
        "priority": "high",
        "opt_out_allowed": False,
        "builtin": False,
        "customised": True,
        "options": {"throttle": {"key": "bills", "limit": 3, "window_seconds": 60}},
    }

    await row.click()
    await expect(form.locator("[name=name]")).to_have_value("Billing")
    await form.locator("[name=priority]").select_option("low")
    await form.locator("button").click()
    await expect(row.locator("td").nth(2)).to_have_text("low")
    category = await (await app.call("GET", "/v1/categories/billing", "member")).json()
    assert (category["priority"], category["name"], category["options"]["throttle"]["limit"]) == ("low", "Billing", 3)
    assert errors == []


async def test_settings_save_quiet_hours_defaults_and_a_bad_time_names_the_field(app: Harness, browser: Any) -> None:
    from playwright.async_api import expect

    page, errors = await open_dashboard(browser, app)
    await page.click("nav >> text=Settings")
    form = page.locator("form#defaults-form")
    await form.locator("[name='quiet_hours.start']").fill("25:00")
    await form.locator("[name='quiet_hours.end']").fill("07:00")
    await form.locator("button.primary").click()
    await expect(form.locator(".form-error")).to_contain_text("quiet_hours.start")
    await expect(form.locator("[name='quiet_hours.start']")).to_have_attribute("aria-invalid", "true")
    await expect(form.locator("[name='quiet_hours.end']")).not_to_have_attribute("aria-invalid", "true")
    unchanged = await (await app.call("GET", "/v1/preferences/defaults", "member")).json()
    assert unchanged == {"channels": {}, "categories": {}}, "a refused save stores nothing"

    await form.locator("[name='quiet_hours.start']").fill("22:00")
    await form.locator("[name='quiet_hours.timezone']").fill("Europe/Berlin")
    await form.locator("select[name='categories.marketing.enabled']").select_option("off")
    await form.locator("button.primary").click()
    await expect(page.locator("#status")).to_have_text("Defaults saved.")
    assert await (await app.call("GET", "/v1/preferences/defaults", "member")).json() == {
        "channels": {},
        "categories": {"marketing": {"enabled": False, "channels": {}}},
        "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Europe/Berlin"},
    }
    await expect(form.locator("[name='quiet_hours.start']")).not_to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#retention-form")).to_have_count(0), "retention is the owner's"
    assert errors == []


async def test_the_owner_sets_retention_days_and_an_empty_field_restores_the_default(
    app: Harness, browser: Any
) -> None:
    from playwright.async_api import expect

    page, errors = await open_dashboard(browser, app, "owner")
    await go(page, app, "#/settings")
    form = page.locator("form#retention-form")
    await form.locator("[name=notifications]").fill("30")
    await form.locator("button").click()
    await expect(form.locator("[name=notifications]")).to_have_value("30")
    await expect(form).to_contain_text("now 30 days")
    retention = await (await app.call("GET", "/v1/retention", "owner")).json()
    assert retention["notifications"] == 30 and retention["inbox"] is None

    await form.locator("[name=notifications]").fill("")
    await form.locator("button").click()
    await expect(form).to_contain_text(f"now {app.svc.config.retention.notifications} days")
    assert (await (await app.call("GET", "/v1/retention", "owner")).json())["notifications"] is None
    assert errors == []


async def test_a_member_sees_users_and_topics_without_controls_that_change_them_and_the_api_refuses_them(
    app: Harness, browser: Any
) -> None:
    from playwright.async_api import expect

    await put_user(app, "ann", email="ann@example.com", push_tokens=["fcm-1"])
    page, errors = await open_dashboard(browser, app, "member")
    await page.click("nav >> text=Users")
    await expect(page.locator("tr[data-user='ann']")).to_be_visible()
    await expect(page.locator("#import-form")).to_have_count(0)
    await expect(page.locator("#user-form")).to_have_count(0)
    await page.click("tr[data-user='ann']")
    await expect(page.locator("#user-devices")).to_contain_text("fcm-1")
    await expect(page.locator("#preferences-form select").first).to_be_disabled()
    for absent in ("#user-form", "#preferences-form button", "#erase-user"):
        await expect(page.locator(absent)).to_have_count(0)
    await page.click("nav >> text=Topics")
    await expect(page.locator("#categories tr[data-category='otp']")).to_be_visible()
    for absent in ("#subscribe-form", "#category-form", "#categories [data-delete]"):
        await expect(page.locator(absent)).to_have_count(0)

    refused = {
        ("POST", "/v1/users/import"): await app.call(
            "POST", "/v1/users/import", "member", data=CSV, headers={"Content-Type": "text/csv"}
        ),
        ("PUT", "/v1/users/ann/preferences"): await app.call("PUT", "/v1/users/ann/preferences", "member", {}),
        ("PUT", "/v1/topics/t/subscribers"): await app.call("PUT", "/v1/topics/t/subscribers", "member", {}),
        ("PUT", "/v1/categories/c"): await app.call("PUT", "/v1/categories/c", "member", {}),
    }
    assert {k: r.status for k, r in refused.items()} == dict.fromkeys(refused, 403)
    assert await user_ids(app) == ["ann"]
    assert errors == []


async def test_a_member_has_no_settings_page_and_the_api_refuses_the_defaults(app: Harness, browser: Any) -> None:
    from playwright.async_api import expect

    page, errors = await open_dashboard(browser, app, "member")
    nav = page.locator("#pages")
    await expect(nav.locator("a[href='#/users']")).to_have_text("Users")
    await expect(nav.locator("a[href='#/topics']")).to_have_text("Topics")
    await expect(nav.locator("a[href='#/settings']")).to_have_count(0)
    await go(page, app, "#/settings")
    await expect(page.locator("#no-page")).to_contain_text("settings")
    await expect(page.locator("#defaults-form")).to_have_count(0)
    assert (await app.call("PUT", "/v1/preferences/defaults", "member", {})).status == 403
    assert (await app.call("GET", "/v1/retention", "admin")).status == 403
    assert errors == []


async def test_at_400_px_the_users_topics_and_settings_pages_do_not_overflow(start_app: StartApp, browser: Any) -> None:
    from playwright.async_api import expect

    app = await start_app()
    long_email = "a.recipient.with.a.rather.long.address@subdomain.example.com"
    await put_user(app, "a-user-with-a-long-identifier", email=long_email, push_tokens=["x" * 120])
    await deliver(app, "a-user-with-a-long-identifier", "A title long enough to need wrapping on a phone screen")
    topic = "/v1/topics/release-notes-for-every-customer/subscribers"
    resp = await app.call("PUT", topic, "admin", {"user_ids": ["u1"]})
    assert resp.status == 200
    page, errors = await open_dashboard(browser, app, "owner", width=400)
    await go(page, app, "#/users")
    await expect(page.locator("#import-form")).to_be_visible()
    await fits(page, "users")
    await page.click("tr[data-user='a-user-with-a-long-identifier']")
    await expect(page.locator("#inbox tr[data-item]")).to_have_count(1)
    await fits(page, "user detail")
    await go(page, app, "#/topics?topic=release-notes-for-every-customer")
    await expect(page.locator("#topic-detail")).to_contain_text("1 subscriber")
    await fits(page, "topics")
    await go(page, app, "#/settings")
    await expect(page.locator("#retention-form")).to_be_visible()
    await fits(page, "settings")
    assert errors == []
