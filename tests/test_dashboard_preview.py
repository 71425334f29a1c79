"""The Outbox's email preview in a real browser (Debian's chromium driven by Playwright): the
email's HTML comes from its signed preview link under a policy of its own, so its inline
styles apply while its scripts stay dead and its remote images unfetched, and the dashboard
around it breaks no policy."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import Harness
from tests.test_dashboard_browser import sign_in
from tests.test_dashboard_ops import fits, watched_page

RED = "rgb(255, 0, 0)"
# Each would mark the page if the script ran.
SCRIPT = "<script>document.title = 'ran'; document.body.dataset.ran = 'yes'</script>"
STYLED = f'<h1>Disk alert</h1><p style="color: {RED}">/var is 95% full</p>{SCRIPT}'


class Pixel:
    """A tracker's image server on 127.0.0.1 that counts who fetched its pixel."""

    def __init__(self) -> None:
        self.hits = 0
        self.url = ""

    async def serve(self, request: web.Request) -> web.Response:
        self.hits += 1
        return web.Response(body=b"GIF89a", content_type="image/gif")


@pytest.fixture
async def pixel(aiohttp_server: Any) -> AsyncIterator[Pixel]:
    tracker = Pixel()
    app = web.Application()
    app.router.add_get("/open.gif", tracker.serve)
    server = await aiohttp_server(app, host="127.0.0.1")
    tracker.url = str(server.make_url("/open.gif"))
    yield tracker


async def open_preview(app: Harness, page: Any, html: str) -> Any:
    """Publish an email with ``html``, open it in the Outbox as a member, and return its frame."""
    from playwright.async_api import expect

    content = {"email": {"subject": "Disk alert", "text": "/var is 95% full", "html": html}}
    nid = (await app.publish({"to": {"email": "ann@example.com"}, "content": content}))["notifications"][0]["id"]
    await app.settled(nid)
    captured = (await (await app.call("GET", "/v1/outbox")).json())["items"][0]
    await sign_in(page, app, "member")
    await page.click("nav >> text=Outbox")
    await page.locator(f"tr[data-message='{captured['id']}']").click()
    frame = page.locator("#outbox-detail iframe.preview")
    await expect(frame).to_have_attribute("sandbox", "")
    await expect(frame).to_have_attribute("src", re.compile(rf"^/v1/outbox/{captured['id']}/html\?token=[\w.-]+$"))
    return page.frame_locator("#outbox-detail iframe.preview")


async def test_an_email_s_inline_styles_apply_in_its_preview_and_its_script_does_not_run(
    app: Harness, browser: Any
) -> None:
    from playwright.async_api import expect

    page, errors = await watched_page(browser)
    inside = await open_preview(app, page, STYLED)
    paragraph = inside.locator("p")
    await expect(paragraph).to_have_text("/var is 95% full")
    assert await paragraph.evaluate("p => getComputedStyle(p).color") == RED
    await expect(inside.locator("h1")).to_have_text("Disk alert")
    assert await inside.locator("body").evaluate("b => [document.title, b.dataset.ran ?? null]") == ["", None]
    await expect(page.locator("#outbox-detail .remote-images")).to_have_count(0)
    assert errors == [], "neither the dashboard nor the preview broke a policy"

    await page.set_viewport_size({"width": 400, "height": 800})
    await expect(paragraph).to_have_text("/var is 95% full")
    await fits(page, "the Outbox with an email's preview")


async def test_a_preview_opened_on_its_own_still_runs_no_script(app: Harness, browser: Any) -> None:
    page, _ = await watched_page(browser)
    await open_preview(app, page, STYLED)
    link = await page.locator("#outbox-detail iframe.preview").get_attribute("src")
    alone = await browser.new_page()
    await alone.goto(str(app.client.make_url(link)))
    assert await alone.locator("p").evaluate("p => getComputedStyle(p).color") == RED
    assert await alone.evaluate("[document.title, document.body.dataset.ran ?? null]") == ["", None]


async def test_a_remote_image_in_an_email_is_not_fetched_and_the_page_says_so(
    app: Harness, browser: Any, pixel: Pixel
) -> None:
    from playwright.async_api import expect

    page, errors = await watched_page(browser)
    inside = await open_preview(app, page, f'<p>Hello</p><img alt="tracker" src="{pixel.url}">')
    await expect(inside.locator("p")).to_have_text("Hello")
    # The browser has settled the image (refused it) before we count.
    await expect(inside.locator("img")).to_have_js_property("complete", True)
    await expect(page.locator("#outbox-detail .remote-images")).to_contain_text("Remote images are not loaded")
    assert pixel.hits == 0, "the tracker learned that the preview was opened"
    assert [e for e in errors if pixel.url not in e] == [], "only the refused image broke a policy"

    # The pixel server does count: a browser that fetches it is seen.
    await (await browser.new_page()).goto(pixel.url)
    assert pixel.hits == 1
