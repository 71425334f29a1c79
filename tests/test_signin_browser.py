"""Signing in in a real browser (Debian's chromium driven by Playwright): the invite link sets
a password, the form signs in, the dashboard works on the session, and signing out ends it."""

from __future__ import annotations

from typing import Any

from tests.conftest import StartApp
from tests.signin_support import PASSWORD


async def test_a_new_member_sets_a_password_signs_in_and_lands_on_the_dashboard(
    start_app: StartApp, browser: Any
) -> None:
    from playwright.async_api import expect

    app = await start_app()
    invited = await app.call("POST", "/v1/members", "owner", {"email": "ann@example.com", "role": "admin"})
    invite_path = "/" + (await invited.json())["invite_url"].split("/", 3)[3]
    page = await browser.new_page(viewport={"width": 400, "height": 800})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)

    await page.goto(str(app.client.make_url(invite_path)))
    await expect(page.locator("#for")).to_have_text("ann@example.com")
    await page.fill("#password", PASSWORD)
    await page.fill("#confirm", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("#message")).to_have_text("Your password is set: sign in with it.")

    await page.fill("#email", "ann@example.com")
    await page.fill("#password", "a wrong password, typed in haste")
    await page.click("button[type=submit]")
    await expect(page.locator("#message")).to_have_text("The email or the password is wrong.")
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")

    await expect(page.locator("#who")).to_have_text("ann@example.com · admin")
    assert page.url == str(app.client.make_url("/"))
    await expect(page.locator(".cards")).to_contain_text("last 24 h"), "the overview loads on the session"
    cookies = await page.context.cookies()
    assert sorted((c["name"], c["httpOnly"], c["sameSite"]) for c in cookies) == [
        ("alertflow_csrf", False, "Lax"),  # the script's sign that a session is there
        ("alertflow_session", True, "Lax"),
    ]

    await page.click("#signout button")
    await expect(page.locator("h1")).to_have_text("Sign in to AlertFlow")
    assert await page.context.cookies() == []
    assert await app.rows("SELECT 1 FROM sessions") == []
    assert errors == [], "no page broke the policy"
