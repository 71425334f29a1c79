"""The dashboard in a real browser (Debian's chromium driven by Playwright): a key pasted in,
history with attempt detail, a template preview, and a dead letter replayed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.conftest import EMAIL, Harness, Script, StartApp

KEY_STORE = "alertflow.apiKey"


async def sign_in(page: Any, app: Harness, role: str = "admin") -> None:
    from playwright.async_api import expect

    await page.goto(str(app.client.make_url("/")))
    await page.fill("#api-key", app.keys[role])
    await page.click("#key-form button[type=submit]")
    await expect(page.locator("#status")).to_have_text("Key saved in this browser.")


async def test_an_operator_finds_a_dead_delivery_replays_it_and_sees_it_sent(
    start_app: StartApp, script: Script, browser: Any, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    script.set(fail="retry")
    app = await start_app(queue={"max_attempts": 1}, providers={"email": script.provider()})
    nid = (await app.publish({"to": {"email": "ann@example.com"}, "content": EMAIL}))["notifications"][0]["id"]
    await app.settled(nid)
    await app.call("POST", "/v1/templates", "admin", {"key": "welcome", "channels": {"sms": {"body": "Hi {{name}}"}}})

    page = await browser.new_page(viewport={"width": 1200, "height": 800})
    await page.goto(str(app.client.make_url("/")))
    await expect(page.locator("#view")).to_contain_text("Enter an API key")
    await page.fill("#api-key", app.keys["admin"])
    await page.click("#key-form button[type=submit]")
    await expect(page.locator(".cards")).to_contain_text("dead")

    await page.click("nav >> text=History")
    row = page.locator(f"tr[data-id='{nid}']")
    await expect(row).to_contain_text("dead")
    await row.click()
    await expect(page.locator(".detail")).to_contain_text("scripted transient failure")
    outcomes = page.locator(".detail table.attempts tr td:nth-child(2)")
    await expect(outcomes).to_have_text(["dead"]), "the try that sent it to the DLQ reads dead"

    await page.click("nav >> text=Templates")
    await page.click("tr[data-key='welcome']")
    await page.fill("textarea[name=sample]", '{"name": "Ann"}')
    await expect(page.locator("#live-preview")).to_contain_text("Hi Ann")

    resp = await app.call(
        "POST",
        "/v1/schedules",
        "admin",
        {
            "name": "Weekly digest",
            "cron": "0 9 * * 1",
            "timezone": "Europe/Berlin",
            "to": [{"email": "ann@example.com"}],
            "content": EMAIL,
        },
    )
    assert resp.status == 201, await resp.text()
    await page.click("nav >> text=Schedules")
    digest = page.locator("#schedules tr[data-schedule]")
    await expect(digest).to_contain_text("Weekly digest")
    await digest.locator("[data-toggle]").click()
    await expect(digest).to_contain_text("paused")

    script.set()  # the provider recovers
    await page.click("nav >> text=Dead letters")
    await page.click("#dead [data-replay]")
    await expect(page.locator("#view")).to_contain_text("Nothing in the dead-letter queue")
    await app.until(lambda: any(d.status == "sent" for _, d in app.decisions))
    await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    assert (await app.notification(nid))["status"] == "sent"
    await page.click("nav >> text=History")
    await page.locator(f"tr[data-id='{nid}']").click()
    await expect(outcomes).to_have_text(["dead", "replayed", "sent"]), "the replay shows in the history"


async def test_a_refused_key_is_not_kept_and_the_refusal_is_announced(app: Harness, browser: Any) -> None:
    from playwright.async_api import expect

    page = await browser.new_page()
    await page.goto(str(app.client.make_url("/#/notifications")))
    await page.fill("#api-key", "af_nope_nope")
    await page.click("#key-form button[type=submit]")
    status = page.locator("#status[role=status]")
    await expect(status).to_contain_text("Key not saved")
    await expect(status).to_contain_text("not valid")
    await expect(status).to_have_class(re.compile(r"\berror\b"))
    assert await page.evaluate(f"localStorage.getItem('{KEY_STORE}')") is None
    await expect(page.locator("#view")).to_contain_text("Enter an API key")

    await page.fill("#api-key", app.keys["member"])  # then a good one is kept
    await page.click("#key-form button[type=submit]")
    await expect(status).to_have_text("Key saved in this browser.")
    await expect(status).not_to_have_class(re.compile(r"\berror\b"))
    assert await page.evaluate(f"localStorage.getItem('{KEY_STORE}')") == app.keys["member"]
    await expect(page.locator("#view h1")).to_have_text("History")


async def test_the_overview_chart_has_axes_time_labels_and_a_scale_and_usage_counts_dead_and_suppressed(
    start_app: StartApp, script: Script, browser: Any
) -> None:
    from playwright.async_api import expect

    script.set(fail="retry")
    app = await start_app(queue={"max_attempts": 1}, providers={"email": script.provider()})
    dead = await app.publish({"to": [{"email": f"d{i}@example.com"} for i in range(7)], "content": EMAIL})
    ghost = await app.publish({"to": {"user_id": "ghost"}, "content": EMAIL})  # unknown user: suppressed
    for n in dead["notifications"] + ghost["notifications"]:
        await app.settled(n["id"])

    page = await browser.new_page(viewport={"width": 1000, "height": 800}, timezone_id="UTC", locale="en-GB")
    await sign_in(page, app)
    chart = page.locator("#chart svg")
    await expect(chart).to_be_visible()
    assert await chart.locator("line.axis").count() >= 2, "an x and a y axis"
    scale = await chart.locator("text.tick.y").all_text_contents()
    assert scale[0] == "0" and int(scale[-1]) >= 7 and len(scale) >= 3, scale
    times = [t.strip() for t in await chart.locator("text.tick.x").all_text_contents()]
    assert len(times) >= 4 and all(re.fullmatch(r"\d\d:00", t) for t in times), times
    assert await chart.locator("rect.s-dead").count() >= 1
    await expect(page.locator(".chart figcaption")).to_contain_text("per hour")

    usage = page.locator("#usage")
    await expect(usage.locator("tr").first).to_have_text(
        re.compile(r"Channel\s*Deliveries\s*Sent\s*Delivered\s*Failed\s*Dead\s*Suppressed")
    )
    email = usage.locator("tr", has=page.locator("td", has_text="email"))
    assert [c.strip() for c in await email.locator("td").all_text_contents()] == ["email", "8", "0", "0", "0", "7", "1"]


async def test_at_400_px_wide_nothing_overflows_the_page(start_app: StartApp, script: Script, browser: Any) -> None:
    from playwright.async_api import expect

    app = await start_app(providers={"email": script.provider()})
    out = await app.publish(
        {"to": {"email": "a.recipient.with.a.rather.long.address@subdomain.example.com"}, "content": EMAIL}
    )
    nid = out["notifications"][0]["id"]
    await app.settled(nid)
    page = await browser.new_page(viewport={"width": 400, "height": 800})

    async def fits(where: str) -> None:
        widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1] == 400, f"{where}: the page is {widths[0]} px wide"

    await page.goto(str(app.client.make_url("/")))
    await fits("before a key")
    await sign_in(page, app)
    await expect(page.locator("#chart svg")).to_be_visible()
    await fits("overview")
    await page.click("nav >> text=History")
    table = page.locator("#notifications")
    await expect(table).to_be_visible()
    await fits("history")
    box = page.locator(".scroll", has=table)
    assert await box.evaluate("b => b.scrollWidth > b.clientWidth"), "the table scrolls in its own box"
    await page.locator(f"tr[data-id='{nid}']").click()
    await expect(page.locator(".detail")).to_contain_text("sent")
    await fits("detail")


async def tab_to(page: Any, target: Any) -> None:
    """Press Tab until ``target`` has the focus, in at most a page's worth of steps."""
    from playwright.async_api import expect

    for _ in range(60):
        if await target.evaluate("element => element === document.activeElement"):
            break
        await page.keyboard.press("Tab")
    await expect(target).to_be_focused()


async def test_the_dashboard_is_used_from_the_keyboard_alone(start_app: StartApp, script: Script, browser: Any) -> None:
    from playwright.async_api import expect

    app = await start_app(providers={"email": script.provider()})
    nid = (await app.publish({"to": {"email": "ann@example.com"}, "content": EMAIL}))["notifications"][0]["id"]
    await app.settled(nid)
    page = await browser.new_page(viewport={"width": 1000, "height": 800})
    await page.goto(str(app.client.make_url("/")))
    await page.keyboard.press("Tab")
    await expect(page.locator("a.skip")).to_be_focused()
    await tab_to(page, page.locator("#api-key"))
    await page.keyboard.type(app.keys["admin"])
    await page.keyboard.press("Enter")  # the key form submits
    history = page.locator("#pages a", has_text="History")
    await expect(history).to_be_visible()

    await tab_to(page, history)
    await page.keyboard.press("Enter")
    row = page.locator(f"tr[data-id='{nid}']")
    await expect(row).to_be_visible()
    await tab_to(page, row)
    await page.keyboard.press("Enter")
    await expect(page.locator(".detail")).to_contain_text("sent")
