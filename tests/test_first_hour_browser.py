"""A new team's first hour, in a real browser against a real `alertflow serve`: everything
below is done through the dashboard's pages, the way a person would, and checked where it
lands (the SMTP server, the API, the database the server keeps).

With ALERTFLOW_SCREENSHOTS=<dir> the walk also saves the README's screenshots there."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from tests.fakes.smtp import FakeSmtpServer
from tests.process import WAIT_SECONDS, Server, free_port
from tests.signin_support import PASSWORD

# A form's submit button, typed so or not (a <button> in a form submits unless typed "button").
SUBMIT = "button:not([type=button])"
OPERATOR = "operator@localhost"
OWNER = "owner@acme.example"
MEMBER = "member@acme.example"
USERS_CSV = "user_id,email,phone,name\nu1,ann@acme.example,+4915112345671,Ann\nu2,bob@acme.example,+4915112345672,Bob\n"
# Bob's mail server defers his mail until told otherwise: with one attempt it goes to the DLQ.
DEFERRED = "451 4.2.0 mailbox busy, try later"


async def until(check: Callable[[], bool]) -> None:
    """Wait, without blocking the loop the SMTP server runs on, until ``check`` holds."""
    for _ in range(int(WAIT_SECONDS / 0.1)):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the server never got there")


def served(port: int) -> str:
    return f"""
[server]
port = {port}
public_url = "http://127.0.0.1:{port}"

[queue]
max_attempts = 1

[security]
allowed_private_networks = ["127.0.0.0/8"]
"""


async def set_password(page: Any, url: str) -> None:
    from playwright.async_api import expect

    await page.goto(url)
    await page.fill("#password", PASSWORD)
    await page.fill("#confirm", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("#message")).to_have_text("Your password is set: sign in with it.")


async def sign_in(page: Any, email: str, role: str) -> None:
    from playwright.async_api import expect

    await page.fill("#email", email)
    await page.fill("#password", PASSWORD)
    await page.click("button[type=submit]")
    await expect(page.locator("#who")).to_have_text(f"{email} · {role}")


async def go(page: Any, title: str) -> None:
    from playwright.async_api import expect

    await page.click(f"#pages >> text='{title}'")
    await expect(page.locator("#view h1").first).to_have_text(title)


async def quiet(page: Any) -> None:
    """No passing message over a screenshot: the last one is faded out first."""
    from playwright.async_api import expect

    await page.evaluate("document.getElementById('status').classList.remove('shown')")
    await expect(page.locator("#status")).to_have_css("opacity", "0")


def local(server: Server, link: str) -> str:
    """An invite link, on the port the test server really listens on."""
    return server.url + "/" + link.split("/", 3)[3]


async def test_a_new_team_s_first_hour(browser: Any, tmp_path: Path) -> None:
    from playwright.async_api import expect

    port = free_port()
    server = Server(tmp_path / "srv", served(port))
    assert server.operator_invite_url, "the first run prints an operator invite"
    shots = os.environ.get("ALERTFLOW_SCREENSHOTS")
    errors: list[str] = []

    def watch(page: Any) -> Any:
        page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
        page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
        return page

    async with FakeSmtpServer() as smtp, aiohttp.ClientSession() as http:
        server.start()
        try:

            async def status(path: str, key: str) -> int:
                async with http.get(server.url + path, headers={"Authorization": f"Bearer {key}"}) as resp:
                    return resp.status

            # The operator signs in from the printed link and makes the team's tenant.
            operator = watch(await browser.new_page(viewport={"width": 1280, "height": 900}))
            await set_password(operator, local(server, server.operator_invite_url))
            await sign_in(operator, OPERATOR, "operator")
            await go(operator, "Tenants")
            await operator.fill("#tenant-form [name=name]", "acme")
            await operator.click("#tenant-form " + SUBMIT)
            await expect(operator.locator("#new-tenant-key")).to_contain_text("af_")
            acme = operator.locator("#tenants tr[data-tenant]", has_text="acme")
            await acme.locator("[data-switch]").click()
            await expect(operator.locator("#tenant")).to_contain_text("acme")

            # ... and invites its owner.
            await go(operator, "Members")
            await operator.fill("#member-form [name=email]", OWNER)
            await operator.select_option("#member-form [name=role]", "owner")
            await operator.click("#member-form " + SUBMIT)
            await expect(operator.locator("#invite-url")).to_contain_text("/invite/")
            owner_link = (await operator.locator("#invite-url code").inner_text()).strip()

            # The owner sets a password, signs in and sets up email on a local SMTP server.
            owner = watch(await (await browser.browser.new_context(viewport={"width": 1280, "height": 900})).new_page())
            owner.set_default_timeout(WAIT_SECONDS * 1000)
            await set_password(owner, local(server, owner_link))
            await sign_in(owner, OWNER, "owner")
            await go(owner, "Channels")
            email = owner.locator("#channel-email")
            await email.locator("form.setup [name=type]").select_option("smtp")
            config = {"host": "127.0.0.1", "port": smtp.port, "security": "none", "from_address": "alerts@acme.example"}
            await email.locator("form.setup [name=config]").fill(json.dumps(config))
            await email.locator("form.setup " + SUBMIT).click()
            await expect(email.locator("#providers-email tr[data-provider='smtp']")).to_contain_text("primary")
            await email.locator("form.test [name=to]").fill(OWNER)
            await email.locator("form.test " + SUBMIT).click()
            await expect(email.locator(".test-result")).to_contain_text("ok")
            assert [m.rcpt_tos for m in smtp.messages] == [[OWNER]], "the test message arrived"

            # A template for email and SMS, previewed live while it is written.
            await go(owner, "Templates")
            await owner.click("#new-template")
            editor = owner.locator("#template-editor")
            await editor.locator("[name=key]").fill("welcome")
            await editor.locator("[name=sample]").fill('{"name": "Ann"}')
            await editor.locator("[name='email.subject']").fill("Welcome, {{ name }}")
            await editor.locator("[name='email.text']").fill("Hello {{ name }}, glad you are here.")
            await editor.locator("[name='sms.body']").fill("Welcome to Acme, {{ name }}!")
            await expect(owner.locator("#live-preview")).to_contain_text("Welcome, Ann")
            if shots:
                await quiet(owner)
                await owner.screenshot(path=str(tmp_path / "template-editor.png"), full_page=True)
            await owner.click("#save-template")
            await expect(owner.locator("#versions tr[data-version]")).to_have_count(1)

            # Two users from a pasted CSV, both subscribed to the launch topic.
            await go(owner, "Users")
            await owner.select_option("#import-form [name=format]", "csv")
            await owner.fill("#import-form [name=rows]", USERS_CSV)
            await owner.click("#import-form " + SUBMIT)
            await expect(owner.locator("#import-report")).to_contain_text("2")
            await expect(owner.locator("#users tr[data-user]")).to_have_count(2)
            await go(owner, "Topics")
            await owner.fill("#subscribe-form [name=topic]", "launch")
            await owner.fill("#subscribe-form [name=users]", "u1\nu2")
            await owner.click("#subscribe-form " + SUBMIT)
            await expect(owner.locator("#topics tr[data-topic]", has_text="launch")).to_contain_text("2")

            # A send to the topic, watched to the end on the batch's page.
            smtp.rcpt_replies["bob@acme.example"] = DEFERRED
            await go(owner, "Send")
            form = owner.locator("#send-form")
            await form.locator("[name=audience]").select_option("topic")
            await form.locator("[name=target]").fill("launch")
            await form.locator("[name=template]").select_option("welcome")
            await form.locator("[name=data]").fill('{"name": "friend"}')
            await form.locator(SUBMIT).click()
            await owner.locator("#send-result a[href^='#/batches?id=']").click()
            await expect(owner.locator("#view")).to_contain_text("completed")
            assert [m.rcpt_tos for m in smtp.messages[1:]] == [["ann@acme.example"]], "Bob's mail was deferred"

            # The SMS went to the built-in outbox: its segments are shown.
            await go(owner, "Outbox")
            await expect(owner.locator("#outbox tr[data-message]")).to_have_count(2)
            await owner.locator("#outbox tr[data-message]").first.click()
            await expect(owner.locator("#outbox-detail")).to_contain_text("Welcome to Acme, friend!")
            await expect(owner.locator("#outbox-detail")).to_contain_text("segment")

            # Bob's mail, dead after its one attempt, is replayed once his server takes mail.
            await go(owner, "Dead letters")
            await expect(owner.locator("#dead tr[data-delivery]")).to_have_count(1)
            del smtp.rcpt_replies["bob@acme.example"]
            await owner.click("#dead [data-replay]")
            await until(lambda: len(smtp.messages) == 3)
            assert smtp.messages[2].rcpt_tos == ["bob@acme.example"]

            # A key for CI, revoked: it stops working at once.
            await go(owner, "API keys")
            await owner.fill("#key-create [name=name]", "ci")
            await owner.click("#key-create " + SUBMIT)
            ci_key = (await owner.locator("#new-key code").inner_text()).strip()
            assert await status("/v1/session", ci_key) == 200
            await owner.locator("#keys tr[data-prefix]", has_text="ci").locator("[data-revoke]").click()
            await expect(owner.locator("#keys tr[data-prefix]", has_text="ci")).to_have_count(0)
            assert await status("/v1/session", ci_key) == 401

            # A member of the team sees no Channels page and may not call its API.
            await go(owner, "Members")
            await owner.fill("#member-form [name=email]", MEMBER)
            await owner.select_option("#member-form [name=role]", "member")
            await owner.click("#member-form " + SUBMIT)
            await expect(owner.locator("#invite-url")).to_contain_text("/invite/")
            member_link = (await owner.locator("#invite-url code").inner_text()).strip()
            member = watch(await (await browser.browser.new_context(viewport={"width": 400, "height": 800})).new_page())
            member.set_default_timeout(WAIT_SECONDS * 1000)
            await set_password(member, local(server, member_link))
            await sign_in(member, MEMBER, "member")
            await expect(member.locator("#pages")).to_contain_text("History")
            await expect(member.locator("#pages")).not_to_contain_text("Channels")
            await member.goto(server.url + "/#/channels")
            await expect(member.locator("#no-page")).to_be_visible()
            refused = await member.evaluate(
                """async () => {
                  const who = await (await fetch("/v1/session")).json();
                  const resp = await fetch("/v1/channels/email", {method: "PUT",
                    headers: {"Content-Type": "application/json", "X-CSRF-Token": who.csrf_token},
                    body: JSON.stringify({providers: []})});
                  return resp.status;
                }"""
            )
            assert refused == 403

            await go(owner, "Overview")
            await expect(owner.locator("#chart svg")).to_be_visible()
            await expect(owner.locator("#tenant")).to_have_text("tenant acme")
            await expect(owner.locator("#key-form")).to_be_hidden(), "a signed-in person has no key to paste"
            if shots:
                await quiet(owner)
                await owner.screenshot(path=str(tmp_path / "overview.png"), full_page=True)
                for name in ("overview.png", "template-editor.png"):
                    shutil.copy(tmp_path / name, Path(shots) / name)
            assert errors == [], "no page broke the content security policy"
        finally:
            server.stop()
