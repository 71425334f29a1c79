"""The headers browsers act on: every HTML page has a Content-Security-Policy that allows no
inline script and no framing, every response has nosniff and a referrer policy, HSTS comes
with an https public_url, and /metrics can require a bearer token. The dashboard still works,
in a real browser, under its policy."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from alertflow.api.headers import PAGE_POLICY
from tests.conftest import EMAIL, Harness, StartApp
from tests.test_publish_api import problem

# Markup the policy would block: a script without src, a <style> block, a style attribute,
# an on*= handler. A page that has none needs no 'unsafe-inline' and no hash.
INLINE = re.compile(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=", re.IGNORECASE)


def directives(policy: str) -> dict[str, list[str]]:
    parts = (d.split() for d in policy.split(";") if d.strip())
    return {name: values for name, *values in parts}


def assert_page_policy(resp: aiohttp.ClientResponse, body: str) -> None:
    policy = directives(resp.headers["Content-Security-Policy"])
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["default-src"] == ["'none'"]
    for name in ("script-src", "style-src"):
        assert policy[name] == ["'self'"], f"{resp.url.path}: {name} {policy[name]}"
    assert not INLINE.search(body), f"{resp.url.path} has inline markup the policy blocks: {INLINE.search(body)}"


async def unsubscribe_link(app: Harness) -> str:
    url = await app.svc.links.url_for(app.tenant_id, "u1", "marketing", app.svc.clock.now())
    assert url is not None
    return url[url.index("/v1/unsubscribe/") :]


async def test_every_html_page_has_a_policy_without_inline_script_or_framing(app: Harness) -> None:
    await app.call("PUT", "/v1/users/u1", "admin", {"email": "ann@example.com"})
    link = await unsubscribe_link(app)
    spec = await (await app.client.get("/openapi.json")).json()
    # Every GET route that needs no path parameter, plus the unsubscribe pages.
    visits = [("GET", path) for path, ops in spec["paths"].items() if "get" in ops and "{" not in path]
    visits += [("GET", link), ("POST", link)]
    pages = []
    for method, path in visits:
        resp = await app.client.request(method, path, headers=app.headers("owner"))
        body = await resp.text()
        assert resp.headers["X-Content-Type-Options"] == "nosniff", path
        assert resp.headers["Referrer-Policy"] == "no-referrer", path
        assert "Strict-Transport-Security" not in resp.headers, "public_url is not https"
        if resp.content_type == "text/html":
            assert_page_policy(resp, body)
            pages.append(path)
        else:
            assert directives(resp.headers["Content-Security-Policy"]) == {
                "default-src": ["'none'"],
                "frame-ancestors": ["'none'"],
            }, path
    assert {"/", "/docs", link} <= set(pages)


async def test_data_answers_errors_and_assets_say_nosniff_and_load_nothing(app: Harness) -> None:
    for path in ("/healthz", "/v1/notifications", "/no/such/page", "/static/dashboard/app.js", "/static/page.css"):
        resp = await app.client.get(path)
        assert resp.headers["X-Content-Type-Options"] == "nosniff", path
        assert "'self'" not in resp.headers["Content-Security-Policy"], path
    assert (await app.client.get("/static/page.css")).content_type == "text/css"


async def test_a_not_modified_page_keeps_the_policy_the_browser_has_for_it(app: Harness) -> None:
    first = await app.client.get("/")
    assert_page_policy(first, await first.text())
    again = await app.client.get("/", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status == 304
    assert "Content-Security-Policy" not in again.headers, "the data policy would replace the page's kept one"
    assert again.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    ("public_url", "hsts"),
    [("https://alerts.example.com", "max-age=63072000"), ("http://alerts.example.com", None), (None, None)],
)
async def test_hsts_is_sent_only_when_browsers_reach_the_server_over_https(
    start_app: StartApp, public_url: str | None, hsts: str | None
) -> None:
    app = await start_app(server={"public_url": public_url})
    for path in ("/", "/healthz"):
        assert (await app.client.get(path)).headers.get("Strict-Transport-Security") == hsts


async def test_metrics_need_the_metrics_token_once_one_is_set(start_app: StartApp) -> None:
    app = await start_app(server={"metrics_token": "scrape-me-7f3a"})
    missing = await problem(await app.client.get("/metrics"), 401)
    assert "server.metrics_token" in missing["detail"]
    for wrong in ("scrape-me-7f3b", "scrape-me", "scrape-me-7f3a-and-more", app.keys["owner"]):
        await problem(await app.client.get("/metrics", headers={"Authorization": f"Bearer {wrong}"}), 401)
    ok = await app.client.get("/metrics", headers={"Authorization": "Bearer scrape-me-7f3a"})
    assert ok.status == 200 and "alertflow_queue_jobs" in await ok.text()
    assert (await app.client.get("/healthz")).status == 200, "only /metrics is behind the token"


async def test_without_a_metrics_token_metrics_stay_open(app: Harness) -> None:
    assert (await app.client.get("/metrics")).status == 200


# --- in a real browser ---------------------------------------------------------------------------


async def test_the_dashboard_works_under_its_policy_with_no_violation(
    app: Harness, browser: Any, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    nid = (await app.publish({"to": {"email": "ann@example.com"}, "content": EMAIL}))["notifications"][0]["id"]
    await app.settled(nid)
    await app.call("POST", "/v1/templates", "admin", {"key": "welcome", "channels": {"sms": {"body": "Hi {{name}}"}}})
    await app.call("PUT", "/v1/users/u1", "admin", {"email": "ann@example.com"})

    page = await browser.new_page(viewport={"width": 1200, "height": 800})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{m.text} at {m.location['url']}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(str(app.client.make_url("/")))
    await page.fill("#api-key", app.keys["admin"])
    await page.click("#key-form button[type=submit]")
    await expect(page.locator(".cards")).to_contain_text("sent")
    # The legend's swatches take their colours from the stylesheet, not a style attribute.
    swatch = await page.locator(".legend .swatch.s-sent").evaluate("e => getComputedStyle(e).backgroundColor")
    assert swatch == "rgb(22, 163, 74)"  # --sent

    await page.click("nav >> text=History")
    await page.locator(f"tr[data-id='{nid}']").click()
    await expect(page.locator(".detail")).to_contain_text("sent")
    await page.click("nav >> text=Templates")
    await page.click("tr[data-key='welcome']")
    await page.fill("textarea[name=sample]", '{"name": "Ann"}')
    await expect(page.locator("#live-preview")).to_contain_text("Hi Ann")
    pane = page.locator(".preview-pane")
    widths = await pane.evaluate("p => [p.querySelector('textarea').offsetWidth, p.offsetWidth]")
    assert widths[0] == widths[1], "the preview box fills its column"
    await page.click("nav >> text=Schedules")
    await page.click("nav >> text=Dead letters")
    await expect(page.locator("#view")).to_contain_text("Nothing in the dead-letter queue")
    await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    # The server's plain pages are styled by /static/page.css (70rem and 32rem wide).
    for path, width in (("/docs", "1120px"), (await unsubscribe_link(app), "512px")):
        await page.goto(str(app.client.make_url(path)))
        assert await page.locator("body").evaluate("b => getComputedStyle(b).maxWidth") == width, path
    assert [e for e in errors if "/favicon.ico" not in e] == []

    # The policy is in force, and a violation shows where this test looks: injected script does not run.
    async with page.expect_console_message(lambda m: "Content Security Policy" in m.text):
        ran = await page.evaluate(
            "() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1';"
            " document.body.append(s); return window.ran === 1; }"
        )
    assert not ran


def test_the_page_policy_is_the_one_the_readme_documents() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert f"`Content-Security-Policy: {PAGE_POLICY}`" in readme
