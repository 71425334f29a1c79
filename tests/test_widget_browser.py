"""The embeddable inbox widget in a real browser (Debian's chromium driven by Playwright):
a tenant's page with one <script> tag shows the badge after a publish and clears it on
"Mark all read"."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.conftest import Harness
from tests.inbox_support import add_user, deliver, token_for


async def tenant_page(aiohttp_server: Any, html: str) -> str:
    """The tenant's own site, on another origin than AlertFlow, as in production."""

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    site = web.Application()
    site.router.add_get("/", index)
    return str((await aiohttp_server(site)).make_url("/"))


async def test_the_widget_shows_the_badge_after_a_publish_and_clears_it_on_mark_all_read(
    app: Harness, browser: Any, aiohttp_server: Any, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    await add_user(app, "u1")
    token = await token_for(app, "u1")
    widget = app.client.make_url("/static/alertflow-inbox.js")
    url = await tenant_page(
        aiohttp_server,
        "<!doctype html><html><head><title>Acme</title></head><body>"
        '<header style="display: flex; justify-content: space-between">Acme <span id="bell"></span></header>'
        f'<script src="{widget}" data-token="{token}" data-target="#bell"></script></body></html>',
    )
    page = await browser.new_page(viewport={"width": 600, "height": 420})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(url)
    await expect(page.locator("#bell")).to_have_attribute("data-state", "connected")
    badge = page.locator("#bell .badge")
    await expect(badge).to_be_hidden()

    item = await deliver(app, "u1", "Disk alert")
    await expect(badge).to_have_text("1")
    bell = page.get_by_role("button", name=re.compile("^Notifications, 1 unread"))
    await bell.click()
    await expect(page.get_by_text("Disk alert")).to_be_visible()
    await page.screenshot(path=tmp_path / "widget-unread.png")

    await page.get_by_role("button", name="Mark all read").click()
    await expect(badge).to_be_hidden()
    await expect(page.get_by_role("button", name="Mark all read")).to_be_disabled()
    await page.screenshot(path=tmp_path / "widget-read.png")
    count = await (await app.call("GET", "/v1/users/u1/inbox/count", "member")).json()
    assert count == {"unread_count": 0}
    # The widget acknowledged the item when it arrived, and reading it settled that too.
    [delivery] = await app.rows("SELECT status FROM deliveries WHERE provider_message_id = ?", (item,))
    assert delivery["status"] == "delivered"
    assert errors == []


async def test_the_widget_updates_an_item_in_place_when_a_later_one_replaces_it(
    app: Harness, browser: Any, aiohttp_server: Any
) -> None:
    from playwright.async_api import expect

    await add_user(app, "u1")
    token = await token_for(app, "u1")
    widget = app.client.make_url("/static/alertflow-inbox.js")
    url = await tenant_page(
        aiohttp_server,
        '<!doctype html><html><body><span id="bell"></span>'
        f'<script src="{widget}" data-token="{token}" data-target="#bell"></script></body></html>',
    )
    page = await browser.new_page(viewport={"width": 600, "height": 420})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(url)
    await expect(page.locator("#bell")).to_have_attribute("data-state", "connected")

    async def publish(title: str) -> None:
        body = {"to": {"user_id": "u1"}, "content": {"inapp": {"title": title}}, "replace_key": "deploy-42"}
        await app.settled((await app.publish(body))["notifications"][0]["id"])

    await publish("Deploy 42 started")
    await page.locator("#bell .bell").click()
    await expect(page.get_by_text("Deploy 42 started")).to_be_visible()
    await publish("Deploy 42 finished")
    await expect(page.get_by_text("Deploy 42 finished")).to_be_visible()
    await expect(page.get_by_text("Deploy 42 started")).to_have_count(0)
    await expect(page.locator("#bell li.item")).to_have_count(1)
    await expect(page.locator("#bell .badge")).to_have_text("1")
    assert errors == []


async def test_the_widgets_settings_view_turns_a_category_off_and_it_persists(
    app: Harness, browser: Any, aiohttp_server: Any
) -> None:
    from playwright.async_api import expect

    await add_user(app, "u1")
    token = await token_for(app, "u1")
    widget = app.client.make_url("/static/alertflow-inbox.js")
    url = await tenant_page(
        aiohttp_server,
        '<!doctype html><html><body><span id="bell"></span>'
        f'<script src="{widget}" data-token="{token}" data-target="#bell"></script></body></html>',
    )
    page = await browser.new_page(viewport={"width": 600, "height": 520})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(url)
    await expect(page.locator("#bell")).to_have_attribute("data-state", "connected")
    await page.locator("#bell .bell").click()
    await page.get_by_role("button", name="Settings").click()
    otp = page.get_by_role("checkbox", name="otp by email")
    await expect(otp).to_be_checked()
    await expect(otp).to_be_disabled()
    marketing = page.get_by_role("checkbox", name="marketing by inapp")
    await expect(marketing).to_be_checked()
    await marketing.uncheck()

    async def saved() -> bool:
        prefs = await (await app.call("GET", "/v1/users/u1/preferences")).json()
        return prefs["categories"].get("marketing", {}).get("channels") == {"inapp": False}

    await app.until(saved)
    await page.reload()
    await expect(page.locator("#bell")).to_have_attribute("data-state", "connected")
    await page.locator("#bell .bell").click()
    await page.get_by_role("button", name="Settings").click()
    await expect(page.get_by_role("checkbox", name="marketing by inapp")).not_to_be_checked()
    await expect(page.get_by_role("checkbox", name="alerts by inapp")).to_be_checked()
    body = {"to": {"user_id": "u1"}, "content": {"inapp": {"title": "Sale"}}, "category": "marketing"}
    [delivery] = (await app.settled((await app.publish(body))["notifications"][0]["id"]))["deliveries"]
    assert delivery["reason"] == "preference:category:marketing:channel:inapp"
    assert errors == []
