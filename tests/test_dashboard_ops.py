"""The dashboard's operations pages in a real browser (Debian's chromium driven by
Playwright): the Overview watching the queue live, History searched and opened down to what
was sent and its replay, the Outbox's previews, and dead letters deleted only when confirmed."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from alertflow.providers.resilience import CIRCUIT_FAILURES
from tests.conftest import EMAIL, SMS, Harness, Script, StartApp
from tests.test_dashboard_browser import sign_in

LATER = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
EMAIL_HTML = {
    "email": {
        "subject": "Disk alert",
        "text": "/var is 95% full",
        # The script must not run: the frame is sandboxed.
        "html": "<h1>Disk alert</h1><p>/var is <b>95%</b> full</p><script>document.body.textContent='ran'</script>",
    }
}
UCS2_SMS = "Grüße aus Köln ✓"
LONG_GSM_SMS = "Disk /var on db-1 is full. " * 7  # 189 GSM-7 characters: two segments
PUSH = {"push": {"title": "Deploy finished", "body": "api v42 is live", "data": {"build": "42"}}}


async def watched_page(browser: Any, width: int = 1100) -> tuple[Any, list[str]]:
    """A page, and the Content-Security-Policy complaints its console logs."""
    page = await browser.new_page(viewport={"width": width, "height": 800}, timezone_id="UTC", locale="en-GB")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
    return page, errors


async def fits(page: Any, where: str) -> None:
    widths = await page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{where}: the page is {widths[0]} px wide in a {widths[1]} px window"


async def dead_letters(app: Harness) -> list[dict[str, Any]]:
    resp = await app.call("GET", "/v1/dlq")
    return (await resp.json())["items"]  # type: ignore[no-any-return]


async def test_the_overview_shows_the_queue_dead_letters_and_circuits_and_follows_them_without_reload(
    start_app: StartApp, script: Script, browser: Any
) -> None:
    from playwright.async_api import expect

    script.set(fail="retry")
    app = await start_app(queue={"max_attempts": 1}, providers={"email": script.provider()})
    out = await app.publish({"to": [{"email": f"u{i}@example.com"} for i in range(CIRCUIT_FAILURES)], "content": EMAIL})
    for n in out["notifications"]:
        await app.settled(n["id"])

    page, errors = await watched_page(browser)
    await sign_in(page, app, "member")
    await expect(page.locator("#dlq-count .n")).to_have_text(str(CIRCUIT_FAILURES))
    await expect(page.locator("#circuits tr[data-circuit='email/scripted']")).to_contain_text("open")
    await expect(page.locator("#circuits tr[data-circuit='sms/outbox']")).to_contain_text("closed")
    sms = page.locator("#queue-depth tr[data-channel='sms'] td")
    heading = page.locator("#queue-depth tr").first
    await expect(heading).to_have_text(re.compile(r"Channel\s*high\s*medium\s*low"))
    await expect(sms).to_have_text(["0", "0", "0"])
    await expect(page.locator("#chart svg")).to_be_visible(), "the chart stays"
    await page.evaluate("window.stillTheSamePage = true")

    await app.publish({"to": {"phone": "+15550100"}, "content": SMS, "priority": "high", "send_at": LATER})
    await app.publish({"to": {"phone": "+15550101"}, "content": SMS, "priority": "low", "send_at": LATER})
    await expect(sms).to_have_text(["1", "0", "1"])
    first = (await dead_letters(app))[0]["delivery_id"]
    assert (await app.call("DELETE", f"/v1/dlq/{first}", "admin")).status == 204
    await expect(page.locator("#dlq-count .n")).to_have_text(str(CIRCUIT_FAILURES - 1))
    assert await page.evaluate("window.stillTheSamePage") is True, "updated in place, not reloaded"
    assert errors == [], "no page broke the policy"


async def test_history_finds_by_recipient_and_dates_and_shows_what_was_sent_and_the_replay(
    start_app: StartApp, script: Script, browser: Any
) -> None:
    from playwright.async_api import expect

    script.set(fail="retry")
    app = await start_app(queue={"max_attempts": 1}, providers={"email": script.provider()})
    ann = await app.publish({"to": {"email": "ann@example.com", "phone": "+15550100"}, "content": {**EMAIL, **SMS}})
    nid = ann["notifications"][0]["id"]
    bo = (await app.publish({"to": {"phone": "+15550199"}, "content": SMS}))["notifications"][0]["id"]
    for n in (nid, bo):
        await app.settled(n)
    script.set()  # the provider recovers; the dead email is replayed
    [letter] = await dead_letters(app)
    assert (await app.call("POST", f"/v1/dlq/{letter['delivery_id']}/replay", "admin")).status == 202
    await app.settled(nid)

    page, errors = await watched_page(browser)
    await sign_in(page, app, "member")
    await page.click("nav >> text=History")
    rows = page.locator("#notifications tr[data-id]")
    await expect(rows).to_have_count(2)
    await page.fill("#filters [name=q]", "ANN@example")
    await page.click("#filters button")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-id", nid)
    assert "q=ANN%40example" in page.url, "the search is kept in the address"

    await page.fill("#filters [name=q]", "")
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    await page.fill("#filters [name=since]", tomorrow)
    await page.click("#filters button")
    await expect(page.locator("#list")).to_contain_text("No notifications match")
    yesterday = (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    await page.fill("#filters [name=until]", yesterday)  # before since: the server refuses the range
    await page.click("#filters button")
    await expect(page.locator("#filters .form-error")).to_contain_text("must be before until")
    await expect(page.locator("#filters [name=since]")).to_have_attribute("aria-invalid", "true")
    await page.fill("#filters [name=since]", yesterday[:11] + "00:00")
    await page.fill("#filters [name=until]", tomorrow)
    await page.click("#filters button")
    await expect(rows).to_have_count(2)

    await page.goto(str(app.client.make_url(f"/#/notifications?id={nid}")))
    email = page.locator(".detail .delivery", has=page.locator("h2", has_text="email"))
    await expect(email.locator("table.attempts tr td:nth-child(2)")).to_have_text(["dead", "replayed", "sent"])
    await expect(email).to_contain_text("scripted was handed is not stored")
    text = page.locator(".detail .delivery", has=page.locator("h2", has_text="sms"))
    await expect(text.locator("details.rendered .sms-bubble")).to_have_text("CPU > 90%")
    await expect(text.locator("details.rendered .encoding")).to_have_text("GSM-7")
    assert errors == [], "no page broke the policy"


async def test_the_outbox_previews_an_email_in_a_sandbox_an_sms_with_its_encoding_and_a_push_card(
    app: Harness, browser: Any
) -> None:
    from playwright.async_api import expect

    sent = [
        await app.publish({"to": {"email": "ann@example.com"}, "content": EMAIL_HTML}),
        await app.publish({"to": {"phone": "+15550100"}, "content": {"sms": {"body": UCS2_SMS}}}),
        await app.publish({"to": {"phone": "+15550101"}, "content": {"sms": {"body": LONG_GSM_SMS}}}),
        await app.publish({"to": {"push_token": "device-1"}, "content": PUSH}),
    ]
    for out in sent:
        await app.settled(out["notifications"][0]["id"])
    captured = (await (await app.call("GET", "/v1/outbox")).json())["items"]
    ids = {(m["channel"], m["content"].get("body", m["content"].get("subject"))): str(m["id"]) for m in captured}

    page, errors = await watched_page(browser)
    await sign_in(page, app, "member")
    await page.click("nav >> text=Outbox")
    rows = page.locator("#outbox tr[data-message]")
    await expect(rows).to_have_count(4)

    await page.locator(f"tr[data-message='{ids['email', 'Disk alert']}']").click()
    frame = page.locator("#outbox-detail iframe.preview")
    await expect(frame).to_have_attribute("sandbox", "")
    inside = page.frame_locator("#outbox-detail iframe.preview")
    await expect(inside.locator("h1")).to_have_text("Disk alert")
    await expect(inside.locator("p")).to_have_text("/var is 95% full")
    assert "ran" not in await inside.locator("body").inner_text(), "the email's script did not run"
    head = page.locator("#outbox-detail .message-head")
    await expect(head).to_contain_text("ann@example.com")
    await expect(head).to_contain_text("Disk alert")
    await expect(page.locator("#outbox-detail .text-part")).to_have_text("/var is 95% full")

    await page.select_option("#outbox-filters select[name=channel]", "sms")
    await page.click("#outbox-filters button")
    await expect(rows).to_have_count(2)
    await rows.filter(has_text="Köln").press("Enter")
    await expect(page.locator("#outbox-detail .encoding")).to_have_text("UCS-2")
    await expect(page.locator("#outbox-detail .segments")).to_have_text("1 segment")
    await rows.filter(has_text="db-1").click()
    await expect(page.locator("#outbox-detail .encoding")).to_have_text("GSM-7")
    await expect(page.locator("#outbox-detail .segments")).to_have_text("2 segments")

    await page.goto(str(app.client.make_url(f"/#/outbox?id={ids['push', 'api v42 is live']}")))
    card = page.locator("#outbox-detail .push-card")
    await expect(card.locator(".push-title")).to_have_text("Deploy finished")
    await expect(card.locator(".push-body")).to_have_text("api v42 is live")
    await expect(card.locator(".push-data")).to_contain_text("build")
    await page.goto(str(app.client.make_url("/#/outbox?id=999999")))
    await expect(page.locator("#outbox-detail")).to_contain_text("No such captured message")
    assert errors == [], "no page broke the policy"


async def test_an_empty_outbox_says_how_to_fill_it(app: Harness, browser: Any) -> None:
    from playwright.async_api import expect

    page, _ = await watched_page(browser)
    await sign_in(page, app, "member")
    await page.click("nav >> text=Outbox")
    await expect(page.locator("#outbox-empty")).to_contain_text("Publish to an email")


async def test_a_dead_letter_is_deleted_only_once_confirmed_and_a_member_cannot_delete(
    start_app: StartApp, script: Script, browser: Any
) -> None:
    from playwright.async_api import expect

    script.set(fail="retry")
    app = await start_app(queue={"max_attempts": 1}, providers={"email": script.provider()})
    nid = (await app.publish({"to": {"email": "ann@example.com"}, "content": EMAIL}))["notifications"][0]["id"]
    await app.settled(nid)
    [letter] = await dead_letters(app)

    page, errors = await watched_page(browser)
    await sign_in(page, app, "admin")
    await page.click("nav >> text=Dead letters")
    row = page.locator(f"#dead tr[data-delivery='{letter['delivery_id']}']")
    await expect(row.locator(f"a[href='#/notifications?id={nid}']")).to_be_visible()
    asked: list[str] = []

    def answer(dialog: Any, accept: bool) -> Any:
        asked.append(dialog.message)
        return asyncio.ensure_future(dialog.accept() if accept else dialog.dismiss())

    page.once("dialog", lambda d: answer(d, accept=False))
    await row.locator("[data-delete]").click()
    await expect(row).to_be_visible()
    assert len(await dead_letters(app)) == 1 and "Delete this dead letter" in asked[0]
    page.once("dialog", lambda d: answer(d, accept=True))
    await row.locator("[data-delete]").click()
    await expect(page.locator("#view")).to_contain_text("Nothing in the dead-letter queue")
    assert await dead_letters(app) == [] and len(asked) == 2

    nid = (await app.publish({"to": {"email": "bo@example.com"}, "content": EMAIL}))["notifications"][0]["id"]
    await app.settled(nid)
    [letter] = await dead_letters(app)
    member, _ = await watched_page(browser)
    await sign_in(member, app, "member")
    await member.click("nav >> text=Dead letters")
    await expect(member.locator("#dead tr[data-delivery]")).to_have_count(1)
    await expect(member.locator("#dead [data-delete], #dead [data-replay], #replay-all")).to_have_count(0)
    assert (await app.call("DELETE", f"/v1/dlq/{letter['delivery_id']}", "member")).status == 403
    assert errors == [], "no page broke the policy"


async def test_at_400_px_the_operations_pages_do_not_overflow(
    start_app: StartApp, script: Script, browser: Any
) -> None:
    from playwright.async_api import expect

    app = await start_app()
    long_address = "a.recipient.with.a.rather.long.address@subdomain.example.com"
    out = await app.publish({"to": {"email": long_address, "phone": "+15550100"}, "content": {**EMAIL_HTML, **SMS}})
    nid = out["notifications"][0]["id"]
    await app.settled(nid)
    await app.settled(
        (await app.publish({"to": {"push_token": "device-1"}, "content": PUSH}))["notifications"][0]["id"]
    )

    page, errors = await watched_page(browser, width=400)
    await sign_in(page, app, "member")
    await expect(page.locator("#queue-depth")).to_be_visible()
    await fits(page, "overview")
    await page.goto(str(app.client.make_url(f"/#/notifications?id={nid}")))
    await expect(page.frame_locator(".detail iframe.preview").locator("h1")).to_have_text("Disk alert")
    await fits(page, "history detail")
    await page.click("nav >> text=Outbox")
    for row in await page.locator("#outbox tr[data-message]").all():
        await row.click()
        await expect(page.locator("#outbox-detail .detail")).to_be_visible()
        await fits(page, f"outbox {await row.inner_text()}")
    assert errors == [], "no page broke the policy"
