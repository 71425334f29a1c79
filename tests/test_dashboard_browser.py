"""The dashboard in a real browser (Debian's chromium driven by Playwright): a key pasted in,
history with attempt detail, a template preview, and a dead letter replayed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import EMAIL, Script, StartApp


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

    await page.click("nav >> text=Templates")
    await page.click("tr[data-key='welcome']")
    await page.fill("#preview textarea", '{"name": "Ann"}')
    await page.click("#preview button")
    await expect(page.locator("#rendered")).to_contain_text("Hi Ann")

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


async def test_a_wrong_key_shows_the_apis_answer_instead_of_data(app: Any, browser: Any) -> None:
    from playwright.async_api import expect

    page = await browser.new_page()
    await page.goto(str(app.client.make_url("/#/notifications")))
    await page.fill("#api-key", "af_nope_nope")
    await page.click("#key-form button[type=submit]")
    await expect(page.locator("#view")).to_contain_text("not valid")
