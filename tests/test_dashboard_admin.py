"""The dashboard's administration pages in a real browser (Debian's chromium through
Playwright): channels and their providers, API keys, members and, for operators, tenants.
Each page is absent for a role that may not use it, and the API refuses that role anyway."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from tests.conftest import Harness, StartApp
from tests.fakes.smtp import FakeSmtpServer
from tests.signin_support import PASSWORD, add_member, browsers
from tests.test_dashboard_browser import KEY_STORE, sign_in

SMTP_LOGIN = ("alertflow", "pw-7d1c-never-shown")
ADMIN_PAGES = {"channels": "Channels", "keys": "API keys", "members": "Members", "tenants": "Tenants"}
OVERFLOWS = "document.documentElement.scrollWidth > innerWidth"
PREFIX_CHARS = len("af_") + 8  # a key's listed prefix (tenants.issue_key)


async def open_page(browser: Any, width: int = 1200) -> tuple[Any, list[str]]:
    """A page that accepts every confirm() and collects the Content-Security-Policy errors."""
    page = await browser.new_page(viewport={"width": width, "height": 800})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
    return page, errors


async def sign_in_as(page: Any, app: Harness, email: str) -> None:
    """Through the sign-in form, as a person does."""
    from playwright.async_api import expect

    await page.goto(str(app.client.make_url("/login")))
    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("#who")).to_contain_text(email)


async def go(page: Any, path: str, title: str) -> None:
    from playwright.async_api import expect

    await page.evaluate(f"location.hash = '#/{path}'")
    await expect(page.locator("#view h1").first).to_have_text(title)


async def save_email_setup(page: Any, config: dict[str, Any] | str) -> Any:
    form = page.locator("#channel-email form.setup")
    await form.locator("select[name=type]").select_option("smtp")
    await form.locator("textarea[name=config]").fill(config if isinstance(config, str) else json.dumps(config))
    await form.locator("button[type=submit]").click()
    return form


async def test_an_owner_sets_up_smtp_and_a_test_arrives_with_the_password_kept_masked(
    start_app: StartApp, start_fake_smtp: Any, browser: Any
) -> None:
    from playwright.async_api import expect

    smtp: FakeSmtpServer = await start_fake_smtp(credentials=SMTP_LOGIN)
    app = await start_app()
    page, errors = await open_page(browser)
    await sign_in(page, app, "owner")
    await go(page, "channels", "Channels")
    email = page.locator("#channel-email")
    await expect(email.locator("tr[data-provider=outbox]")).to_contain_text("primary")  # the built-in default
    config = {"host": smtp.host, "port": smtp.port, "security": "none", "from_address": "alerts@alertflow.test"}

    form = await save_email_setup(page, '{"host": ')
    await expect(form.locator(".form-error")).to_contain_text("config: not valid JSON")
    await expect(form.locator("textarea[name=config]")).to_have_attribute("aria-invalid", "true")
    await save_email_setup(page, {**config, "port": 70000})
    await expect(form.locator(".form-error")).to_contain_text("providers.0.config.port")
    await expect(form.locator("textarea[name=config]")).to_have_attribute("aria-invalid", "true")
    assert await app.svc.channels.tenant_entries(app.svc.database, app.tenant_id, "email") is None, "nothing saved"

    login = {"username": SMTP_LOGIN[0], "password": SMTP_LOGIN[1]}
    await save_email_setup(page, {**config, **login})
    await expect(email.locator("tr[data-provider=smtp]")).to_contain_text("password=********")
    await expect(email.locator("textarea[name=config]")).to_have_value(re.compile(r'"password": "\*{8}"'))
    assert SMTP_LOGIN[1] not in await page.content(), "the stored password is never on the page"

    # Saved again without retyping the password: the mask stands for the stored one.
    shown = json.loads(await email.locator("textarea[name=config]").input_value())
    await save_email_setup(page, {**shown, "from_name": "Ops"})
    await expect(email.locator("tr[data-provider=smtp]")).to_contain_text("from_name=Ops")
    await email.locator("form.test input[name=to]").fill("ann@example.com")
    await email.locator("form.test button[type=submit]").click()
    result = email.locator(".test-result li[data-provider=smtp]")
    await expect(result).to_contain_text("ok")
    await expect(result).to_contain_text("circuit closed")
    [mail] = smtp.messages
    assert mail.rcpt_tos == ["ann@example.com"] and "Ops" in mail.message["From"]
    assert smtp.logins == [SMTP_LOGIN[0]], "the server took the kept password"

    await email.locator("form.test input[name=to]").fill("not-an-address")
    await email.locator("form.test button[type=submit]").click()
    await expect(email.locator("form.test .form-error")).to_contain_text("to.email")
    await expect(email.locator("form.test input[name=to]")).to_have_attribute("aria-invalid", "true")

    await email.locator("[data-remove]").click()
    await expect(page.locator("#channel-email tr[data-provider=outbox]")).to_be_visible()
    assert await app.svc.channels.tenant_entries(app.svc.database, app.tenant_id, "email") is None
    assert errors == []


async def test_a_new_key_is_shown_once_and_once_revoked_is_refused_at_once(app: Harness, browser: Any) -> None:
    from playwright.async_api import expect

    page, errors = await open_page(browser)
    await sign_in(page, app, "admin")
    await go(page, "keys", "API keys")
    roles = page.locator("#key-create select[name=role] option")
    await expect(roles).to_have_text(["member", "admin"])  # an admin may not make owner keys
    owners = page.locator(f"#keys tr[data-prefix='{app.keys['owner'][:PREFIX_CHARS]}']")
    await expect(owners).to_contain_text("owner")
    await expect(owners.locator("[data-revoke]")).to_have_count(0)  # nor revoke them

    await page.fill("#key-create input[name=name]", "ci")
    await page.select_option("#key-create select[name=role]", "member")
    await page.click("#key-create button[type=submit]")
    shown = page.locator("#new-key code")
    await expect(shown).to_have_text(re.compile(r"^af_[0-9a-f]{8}_\S+$"))
    await expect(page.locator("#new-key")).to_contain_text("not shown again")
    key = await shown.text_content()
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.click("#new-key [data-copy]")
    await expect(page.locator("#status")).to_have_text("Copied.")
    assert await page.evaluate("navigator.clipboard.readText()") == key
    prefix = key[:PREFIX_CHARS]
    with_key = {"Authorization": f"Bearer {key}"}
    assert (await app.client.get("/v1/session", headers=with_key)).status == 200
    row = page.locator(f"#keys tr[data-prefix='{prefix}']")
    await expect(row).to_contain_text("ci")
    await go(page, "overview", "Overview")
    await go(page, "keys", "API keys")
    await expect(page.locator("#new-key")).to_be_hidden()
    assert key not in await page.content(), "shown once: gone once the page is left"

    await row.locator("[data-revoke]").click()
    await expect(row).to_have_count(0)
    assert (await app.client.get("/v1/session", headers=with_key)).status == 401, "refused at once"

    mine = page.locator(f"#keys tr[data-prefix='{app.keys['admin'][:PREFIX_CHARS]}']")
    await expect(mine).to_contain_text("this browser")
    await mine.locator("[data-revoke]").click()
    await expect(page.locator("#view")).to_contain_text("Enter an API key")
    assert await page.evaluate(f"localStorage.getItem('{KEY_STORE}')") is None
    assert (await app.call("GET", "/v1/session", "admin")).status == 401
    assert errors == []


async def test_an_admin_invites_a_member_changes_a_role_and_sends_a_new_link(app: Harness, browser: Any) -> None:
    from playwright.async_api import expect

    owner = await add_member(app, "owner@example.com", "owner")
    page, errors = await open_page(browser)
    await sign_in(page, app, "admin")
    await go(page, "members", "Members")
    # Owners are the owners' to manage.
    await expect(page.locator(f"tr[data-member='{owner}'] select[data-role]")).to_have_count(0)
    await expect(page.locator("#member-form select[name=role] option")).to_have_text(["member", "admin"])

    await page.fill("#member-form input[name=email]", "bob@example.com")
    await page.click("#member-form button[type=submit]")
    link = page.locator("#invite-url code")
    await expect(link).to_have_text(re.compile(r"^http://127\.0\.0\.1:\d+/invite/[\w-]{43}$"))
    first = await link.text_content()
    await page.fill("#member-form input[name=email]", "Bob@Example.com")
    await page.click("#member-form button[type=submit]")
    await expect(page.locator("#member-form .form-error")).to_contain_text("is a member already")
    bob = (await (await app.call("GET", "/v1/members", "admin")).json())["items"][-1]
    assert bob["email"] == "bob@example.com" and bob["role"] == "member"
    row = page.locator(f"tr[data-member='{bob['member_id']}']")
    await expect(row).to_contain_text("not yet")

    await row.locator("select[data-role]").select_option("admin")
    await expect(page.locator("#status")).to_have_text("bob@example.com is now admin.")
    listed = await (await app.call("GET", "/v1/members", "admin")).json()
    assert [m["role"] for m in listed["items"] if m["member_id"] == bob["member_id"]] == ["admin"]

    await row.locator("[data-reset]").click()
    await expect(link).not_to_have_text(first)
    assert (await app.client.get("/" + first.split("/", 3)[3])).status == 404, "the earlier link stops working"
    fresh = await link.text_content()
    assert (await app.client.get("/" + fresh.split("/", 3)[3])).status == 200

    await row.locator("[data-remove]").click()
    await expect(row).to_have_count(0)
    assert [m["email"] for m in (await (await app.call("GET", "/v1/members")).json())["items"]] == ["owner@example.com"]
    assert errors == []


async def test_an_operator_creates_a_tenant_acts_in_it_and_the_header_names_it(app: Harness, browser: Any) -> None:
    from playwright.async_api import expect

    await add_member(app, "op@example.com", role=None)
    page, errors = await open_page(browser)
    await sign_in_as(page, app, "op@example.com")
    await expect(page.locator("#tenant")).to_have_text("tenant acme")
    await page.click("nav >> text=Tenants")
    await expect(page.locator(f"tr[data-tenant='{app.tenant_id}']")).to_contain_text("acting here")

    await page.fill("#tenant-form input[name=name]", "globex")
    await page.click("#tenant-form button[type=submit]")
    key = await page.locator("#new-tenant-key code").text_content()
    who = await app.client.get("/v1/session", headers={"Authorization": f"Bearer {key}"})
    globex = (await who.json())["tenant_id"]
    assert who.status == 200 and globex != app.tenant_id, "the new tenant's owner key works"
    await page.fill("#tenant-form input[name=name]", "globex")
    await page.click("#tenant-form button[type=submit]")
    await expect(page.locator("#tenant-form .form-error")).to_contain_text("already exists")

    await page.locator(f"tr[data-tenant='{globex}'] [data-switch]").click()
    await expect(page.locator("#tenant")).to_have_text("tenant globex")
    await expect(page.locator(f"tr[data-tenant='{globex}']")).to_contain_text("acting here")
    await go(page, "members", "Members")
    await page.fill("#member-form input[name=email]", "owner@globex.example")
    await page.select_option("#member-form select[name=role]", "owner")
    await page.click("#member-form button[type=submit]")
    await expect(page.locator("#invite-url code")).to_contain_text("/invite/")
    theirs = await (await app.client.get("/v1/members", headers={"Authorization": f"Bearer {key}"})).json()
    assert [m["email"] for m in theirs["items"]] == ["owner@globex.example"], "invited into the tenant acted in"
    assert errors == []


async def test_a_member_sees_none_of_these_pages_and_the_api_refuses_channel_changes(
    app: Harness, browser: Any
) -> None:
    from playwright.async_api import expect

    page, errors = await open_page(browser)
    await sign_in(page, app, "member")
    nav = page.locator("#pages")
    await expect(nav).to_contain_text("History")
    for path in ADMIN_PAGES:
        await expect(nav.locator(f"a[href='#/{path}']")).to_have_count(0)
        await page.evaluate(f"location.hash = '#/{path}'")
        await expect(page.locator("#no-page")).to_contain_text(path)
    setup = {"providers": [{"type": "outbox", "config": {}}]}
    test = {"to": {"email": "a@x.io"}}
    assert (await app.call("PUT", "/v1/channels/email", "member", setup)).status == 403
    assert (await app.call("POST", "/v1/channels/email/test", "member", test)).status == 403
    await add_member(app, "m@example.com", "member")
    async with browsers(app) as new:
        signed_in = new()
        await signed_in.sign_in("m@example.com")
        assert (await signed_in.call("PUT", "/v1/channels/email", setup)).status == 403, "nor with a session"
        assert (await signed_in.call("POST", "/v1/channels/email/test", test)).status == 403
        assert (await signed_in.call("GET", "/v1/session")).status == 200, "signed in, yet refused"
    for admin_only in ("/v1/keys", "/v1/members"):
        assert (await app.call("GET", admin_only, "member")).status == 403

    await page.fill("#api-key", app.keys["admin"])
    await page.click("#key-form button[type=submit]")
    await expect(nav.locator("a[href='#/keys']")).to_have_text("API keys")
    await expect(nav.locator("a[href='#/members']")).to_have_text("Members")
    for path in ("channels", "tenants"):
        await expect(nav.locator(f"a[href='#/{path}']")).to_have_count(0)
    assert (await app.call("PUT", "/v1/channels/email", "admin", setup)).status == 403
    assert errors == []


async def test_the_admin_pages_fit_400_px_with_what_they_show_once(app: Harness, browser: Any) -> None:
    from playwright.async_api import expect

    long_url = f"http://127.0.0.1:9/{'a-long-path/' * 8}hook?token=secret-token-value"
    setup = {"providers": [{"type": "webhook", "config": {"url": long_url, "secret": "s" * 40}}]}
    assert (await app.call("PUT", "/v1/channels/webhook", "owner", setup)).status == 200
    assert (await app.call("PUT", "/v1/users/u1", "admin", {})).status == 200
    await add_member(app, "op@example.com", role=None)
    page, errors = await open_page(browser, width=400)
    await sign_in_as(page, app, "op@example.com")
    for path, title in ADMIN_PAGES.items():
        await go(page, path, title)
        assert not await page.evaluate(OVERFLOWS), f"{path} overflows at 400 px"
    await go(page, "keys", "API keys")
    await page.click("#key-create button[type=submit]")
    await expect(page.locator("#new-key code")).to_be_visible()
    assert not await page.evaluate(OVERFLOWS), "a new key wraps"
    await go(page, "members", "Members")
    await page.fill("#member-form input[name=email]", "a-rather-long-address.for-wrapping@example.com")
    await page.click("#member-form button[type=submit]")
    await expect(page.locator("#invite-url code")).to_be_visible()
    assert not await page.evaluate(OVERFLOWS), "an invite link wraps"
    await go(page, "channels", "Channels")
    await page.locator("#channel-webhook form.test input[name=to]").fill("u1")
    await page.locator("#channel-webhook form.test button[type=submit]").click()
    await expect(page.locator("#channel-webhook .test-result li")).to_contain_text("circuit")
    assert not await page.evaluate(OVERFLOWS), "a test's outcome wraps"
    assert errors == []
