"""The Templates and Send pages in a real browser (Debian's chromium driven by Playwright): a
template written per channel and locale with a live preview, its versions compared and
activated; a message sent from a template or written content to an address or a topic; and a
member who reads and sends but does not write templates."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import Harness
from tests.test_dashboard_browser import sign_in

WIDE = {"width": 1200, "height": 900}
NARROW = {"width": 400, "height": 800}
OVERFLOWS = "document.documentElement.scrollWidth > innerWidth"


async def new_page(browser: Any, app: Harness, role: str, viewport: dict[str, int] = WIDE) -> tuple[Any, list[str]]:
    """A signed-in page, and the Content-Security-Policy complaints its console will log."""
    page = await browser.new_page(viewport=viewport)
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    await sign_in(page, app, role)
    return page, refused


async def template(app: Harness, key: str) -> dict[str, Any]:
    resp = await app.call("GET", f"/v1/templates/{key}/versions", "member")
    return await resp.json()  # type: ignore[no-any-return]


async def test_an_admin_writes_a_template_per_channel_and_locale_previews_it_live_and_compares_and_activates_versions(
    app: Harness, browser: Any
) -> None:
    from playwright.async_api import expect

    page, refused = await new_page(browser, app, "admin")
    await page.click("nav >> text=Templates")
    await expect(page.locator("#templates-empty")).to_contain_text("New template")
    await page.click("#new-template")
    editor = page.locator("form#template-editor")
    preview = page.locator("#live-preview")
    await expect(preview).to_contain_text("Write in a channel")
    await editor.locator("input[name=key]").fill("welcome")
    await editor.locator("input[name=name]").fill("Welcome")
    await editor.locator("input[name='email.subject']").fill("Welcome, {{ name }}")
    await editor.locator("textarea[name='email.text']").fill("Hello {{ name }}")
    await editor.locator("textarea[name=sample]").fill('{"name": "Ann"}')
    await expect(preview.locator("[data-rendered=email]")).to_contain_text("Welcome, Ann")
    await expect(preview.locator("[data-rendered=sms]")).to_have_count(0), "an empty channel is no part of it"

    body = editor.locator("textarea[name='sms.body']")
    await body.fill("Hi {{ name }}")
    await expect(preview.locator("[data-rendered=sms]")).to_contain_text("Hi Ann")
    await body.press_sequentially(", welcome")
    await expect(preview.locator("[data-rendered=sms]")).to_contain_text("Hi Ann, welcome"), "it follows the typing"
    await expect(preview.locator("[data-rendered=sms]")).to_contain_text("GSM-7 · 1 segment")

    await page.fill("#t-new-locale", "de_at")
    await page.click("#add-locale")
    await editor.locator("textarea[name='de-AT.sms.body']").fill("Servus {{ name }}")
    await editor.locator("select[name=preview_locale]").select_option("de-AT")
    await expect(preview.locator("[data-rendered=sms]")).to_contain_text("Servus Ann")
    await expect(preview.locator("[data-rendered=email]")).to_contain_text("Welcome, Ann"), "the default fills in"

    subject = editor.locator("input[name='email.subject']")
    await subject.fill("Welcome, {{ name")
    await expect(preview.locator(".preview-error")).to_contain_text("email.subject")
    await expect(subject).to_have_attribute("aria-invalid", "true")
    await page.click("#save-template")
    await expect(editor.locator(".form-error")).to_contain_text("channels.email.subject")
    assert (await (await app.call("GET", "/v1/templates", "member")).json())["items"] == [], "nothing was saved"

    await subject.fill("Welcome, {{ name }}")
    await expect(preview.locator("[data-rendered=email]")).to_contain_text("Welcome, Ann")
    await expect(subject).not_to_have_attribute("aria-invalid", "true")
    await page.click("#save-template")
    await expect(page).to_have_url(re.compile(r"#/templates\?key=welcome$"))
    await expect(page.locator("#templates tr[data-key=welcome]")).to_contain_text("v1 of 1")
    await expect(page.locator("#versions tr[data-version]")).to_have_count(1)
    saved = (await template(app, "welcome"))["items"][0]
    assert saved["channels"] == {
        "email": {"subject": "Welcome, {{ name }}", "text": "Hello {{ name }}"},
        "sms": {"body": "Hi {{ name }}, welcome"},
    }
    assert saved["locales"] == {"de-at": {"sms": {"body": "Servus {{ name }}"}}}

    await expect(editor.locator("textarea[name='de-AT.sms.body']")).to_have_value("Servus {{ name }}")
    await expect(editor.locator("textarea[name=sample]")).to_have_value('{"name": "Ann"}'), "the sample is kept"
    await editor.locator("textarea[name='email.text']").fill("Hello {{ name }}, glad you are here")
    await page.click("#save-template")
    await expect(page.locator("#versions tr[data-version]")).to_have_count(2)
    await expect(page.locator("#versions tr[data-version='2']")).to_contain_text("active")

    diff = page.locator("#diff")
    await expect(diff.locator(".del")).to_have_text(['-       "text": "Hello {{ name }}"'])
    await expect(diff.locator(".add")).to_have_text(['+       "text": "Hello {{ name }}, glad you are here"'])
    await page.select_option("#diff-from", "2")
    await page.select_option("#diff-to", "2")
    await expect(diff).to_contain_text("No differences")
    await expect(diff.locator(".add, .del")).to_have_count(0)

    await page.click("#versions tr[data-version='1'] [data-activate]")
    await expect(page.locator("#versions tr[data-version='1']")).to_contain_text("active")
    await expect(page.locator("#versions tr[data-version='2'] [data-activate]")).to_have_count(1)
    summary = await (await app.call("GET", "/v1/templates/welcome", "member")).json()
    assert (summary["active_version"], summary["latest_version"]) == (1, 2)

    await page.set_viewport_size(NARROW)
    await page.click("#versions tr[data-version='1'] [data-open]")
    await expect(editor.locator("textarea[name='email.text']")).to_have_value("Hello {{ name }}")
    assert not await page.evaluate(OVERFLOWS), "the editor fits 400 px"
    assert refused == [], "no page broke the policy"


async def test_the_line_diff_marks_only_the_lines_that_changed(app: Harness, browser: Any) -> None:
    page, _ = await new_page(browser, app, "member")
    results = await page.evaluate("""async () => {
        const { lineDiff, jsonLines } = await import("/static/dashboard/diff.js");
        const ops = (a, b) => lineDiff(a, b).map((l) => `${l.op}:${l.line}`);
        return {
            changed: ops("a\\nb\\nc", "a\\nx\\nc"),
            inserted: ops("a\\nc", "a\\nb\\nc"),
            removed: ops("a\\nb\\nc\\nd", "a\\nd"),
            swapped: ops("a\\nb", "b\\na"),
            same: ops("a\\nb", "a\\nb"),
            sorted: jsonLines({ b: 1, a: { d: [2, { f: 1, e: 0 }], c: 3 } })
                === jsonLines({ a: { c: 3, d: [2, { e: 0, f: 1 }] }, b: 1 }),
            order: jsonLines([2, 1]) === jsonLines([1, 2]),
        };
    }""")
    assert results == {
        "changed": ["same:a", "del:b", "add:x", "same:c"],
        "inserted": ["same:a", "add:b", "same:c"],
        "removed": ["same:a", "del:b", "del:c", "same:d"],
        "swapped": ["del:a", "same:b", "add:a"],
        "same": ["same:a", "same:b"],
        "sorted": True,
        "order": False,  # a list's order is content
    }


async def test_a_member_sends_from_a_template_and_to_a_topic_and_a_problem_names_its_field(
    app: Harness, browser: Any
) -> None:
    from playwright.async_api import expect

    body = {"key": "welcome", "name": "Welcome", "channels": {"email": {"subject": "Hi {{ name }}", "text": "Hello"}}}
    assert (await app.call("POST", "/v1/templates", "admin", body)).status == 201
    for user in ("u1", "u2"):
        resp = await app.call("PUT", f"/v1/users/{user}", "admin", {"email": f"{user}@example.com"})
        assert resp.status in (200, 201), await resp.text()
    resp = await app.call("PUT", "/v1/topics/ops/subscribers", "admin", {"user_ids": ["u1", "u2"]})
    assert resp.status == 200, await resp.text()

    page, refused = await new_page(browser, app, "member")
    await page.click("nav >> text=Send")
    form = page.locator("form#send-form")
    await form.locator("select[name=audience]").select_option("email")
    await form.locator("input[name=target]").fill("ann@example.com")
    await expect(form.locator("select[name=template]")).to_have_value("welcome")
    data = form.locator("textarea[name=data]")
    await expect(data).to_have_value('{\n  "name": ""\n}'), "the template's variables to fill in"

    await data.fill('{"name": "Ann"')
    await page.click("#send")
    await expect(form.locator(".form-error")).to_contain_text("data: not valid JSON")
    await expect(data).to_have_attribute("aria-invalid", "true")
    await page.click("#preview-send")
    await expect(page.locator("#send-preview .preview-error")).to_contain_text("data: not valid JSON")

    await data.fill("{}")
    await page.click("#send")
    await expect(form.locator(".form-error")).to_contain_text("data.name")
    await expect(data).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#send-result a")).to_have_count(0)

    await data.fill('{"name": "Ann"}')
    await page.click("#preview-send")
    await expect(page.locator("#send-preview [data-rendered=email]")).to_contain_text("Hi Ann")
    await expect(data).not_to_have_attribute("aria-invalid", "true")
    await form.locator("select[name=priority]").select_option("high")
    await page.click("#send")
    link = page.locator("#send-result a[href^='#/notifications?id=']")
    await expect(link).to_have_count(1)
    nid = (await link.get_attribute("href")).split("=", 1)[1]
    sent = await app.settled(nid)
    assert (sent["status"], sent["priority"], sent["recipient"]["email"]) == ("sent", "high", "ann@example.com")
    await link.click()
    await expect(page.locator("#notifications tr[data-id='" + nid + "']")).to_contain_text("ann@example.com")
    await expect(page.locator(".detail")).to_contain_text("template welcome v1")
    await expect(page.locator(".detail")).to_contain_text("sent")

    await page.click("nav >> text=Send")
    await form.locator("select[name=audience]").select_option("topic")
    await form.locator("input[name=target]").fill("nobody-here")
    await form.locator("select[name=template]").select_option(label="Write content")
    await expect(data).to_have_value("{}")
    await form.locator("input[name='email.subject']").fill("Maintenance at {{ when }}")
    await form.locator("textarea[name='email.text']").fill("We are down for an hour.")
    await data.fill('{"when": "22:00"}')
    await page.click("#preview-send")
    await expect(page.locator("#send-preview [data-rendered=email]")).to_contain_text("Maintenance at 22:00")
    await page.click("#send")
    await expect(form.locator(".form-error")).to_contain_text("no subscribers")
    await expect(form.locator("input[name=target]")).to_have_attribute("aria-invalid", "true")
    await form.locator("input[name=target]").fill("ops")
    await page.click("#send")
    batch = page.locator("#send-result a[href^='#/batches?id=']")
    await expect(batch).to_have_count(1)
    await expect(page.locator("#send-result")).to_contain_text("2 subscribers")
    batch_id = (await batch.get_attribute("href")).split("=", 1)[1]
    resp = await app.call("GET", f"/v1/batches/{batch_id}", "member")
    assert (resp.status, (await resp.json())["recipients"]) == (200, 2)

    await page.set_viewport_size(NARROW)
    assert not await page.evaluate(OVERFLOWS), "the Send page fits 400 px"
    assert refused == [], "no page broke the policy"


async def test_a_member_reads_and_previews_templates_without_editor_controls_and_the_api_refuses_their_writes(
    app: Harness, browser: Any
) -> None:
    from playwright.async_api import expect

    body = {"key": "otp", "channels": {"sms": {"body": "Code {{ code }}"}}}
    assert (await app.call("POST", "/v1/templates", "admin", body)).status == 201
    v2 = {"channels": {"sms": {"body": "Your code: {{ code }}"}}}
    assert (await app.call("PUT", "/v1/templates/otp", "admin", v2)).status == 200

    page, refused = await new_page(browser, app, "member", NARROW)
    await page.click("nav >> text=Templates")
    await expect(page.locator("#templates tr[data-key=otp]")).to_contain_text("v2 of 2")
    await expect(page.locator("#new-template")).to_have_count(0)
    await page.locator("#templates tr[data-key=otp]").press("Enter")
    await expect(page.locator("#versions tr[data-version]")).to_have_count(2)
    await expect(page.locator("#versions [data-open]")).to_have_text(["View", "View"])
    await expect(page.locator("#diff .add")).to_have_text(['+       "body": "Your code: {{ code }}"'])
    await expect(page.locator("[data-activate]")).to_have_count(0)
    await expect(page.locator("#template-editor")).to_have_count(0)
    await expect(page.locator("#save-template")).to_have_count(0)
    await page.fill("textarea[name=sample]", '{"code": 123456}')
    await expect(page.locator("#live-preview")).to_contain_text("Your code: 123456")
    await page.fill("textarea[name=sample]", "{}")
    await expect(page.locator("#live-preview .preview-error")).to_contain_text("data.code")
    await expect(page.locator("textarea[name=sample]")).to_have_attribute("aria-invalid", "true")
    await page.click("#versions tr[data-version='1'] [data-open]")
    await page.fill("textarea[name=sample]", '{"code": 7}')
    await expect(page.locator("#live-preview")).to_contain_text("Code 7")
    assert not await page.evaluate(OVERFLOWS), "the page fits 400 px"

    resp = await app.call("PUT", "/v1/templates/otp", "member", v2)
    assert resp.status == 403
    resp = await app.call("POST", "/v1/templates/otp/activate", "member", {"version": 1})
    assert resp.status == 403
    assert (await (await app.call("GET", "/v1/templates/otp", "member")).json())["active_version"] == 2
    assert refused == [], "no page broke the policy"
