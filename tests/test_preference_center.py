"""The preference center: the inbox token's own preferences and choices, and the hosted signed page."""

from __future__ import annotations

import re
from typing import Any

from alertflow import signing
from alertflow.recipients import preference_center
from tests.conftest import EMAIL, Harness

ANN = {"email": "ann@example.com", "phone": "+15550100"}


async def user_with_token(app: Harness, user_id: str = "ann") -> dict[str, str]:
    assert (await app.call("PUT", f"/v1/users/{user_id}", "admin", ANN)).status == 200
    resp = await app.call("POST", f"/v1/users/{user_id}/inbox-token", "member")
    return {"Authorization": f"Bearer {(await resp.json())['token']}"}


def link(app: Harness, user_id: str = "ann", ttl: float = 60, now: float | None = None) -> str:
    secret = app.svc.config.server.secret_key
    return preference_center.PATH + signing.sign(secret, "preferences", {"t": app.tenant_id, "u": user_id}, ttl, now)


async def email_status(app: Harness, category: str) -> dict[str, Any]:
    nid = (await app.publish({"to": {"user_id": "ann"}, "content": EMAIL, "category": category}))["notifications"][0]
    [delivery] = (await app.settled(nid["id"]))["deliveries"]
    return delivery  # type: ignore[no-any-return]


async def test_an_inbox_token_reads_and_saves_its_own_preferences(app: Harness) -> None:
    token = await user_with_token(app)
    body = {"categories": {"marketing": {"channels": {"email": False}}}}
    saved = await app.client.put("/v1/users/ann/inbox/preferences", json=body, headers=token)
    assert saved.status == 200, await saved.text()
    got = await (await app.client.get("/v1/users/ann/inbox/preferences", headers=token)).json()
    assert got["categories"]["marketing"]["channels"] == {"email": False}
    choices = await (await app.client.get("/v1/users/ann/inbox/choices", headers=token)).json()
    marketing = next(c for c in choices["categories"] if c["key"] == "marketing")
    assert marketing["channels"]["email"] is False and marketing["channels"]["sms"] is True
    assert (await email_status(app, "marketing"))["reason"] == "preference:category:marketing:channel:email"


async def test_a_token_cannot_reach_another_users_preferences(app: Harness) -> None:
    token = await user_with_token(app)
    await user_with_token(app, "bob")
    body = {"categories": {"marketing": {"enabled": False}}}
    assert (await app.client.get("/v1/users/bob/inbox/preferences", headers=token)).status == 404
    assert (await app.client.put("/v1/users/bob/inbox/preferences", json=body, headers=token)).status == 404
    assert (await app.client.get("/v1/users/bob/inbox/choices", headers=token)).status == 404
    bad = {"Authorization": "Bearer not-a-token"}
    assert (await app.client.get("/v1/users/ann/inbox/preferences", headers=bad)).status == 401
    assert (await (await app.call("GET", "/v1/users/bob/preferences")).json())["categories"] == {}


async def test_otp_is_always_on_and_turning_it_off_is_refused_naming_the_field(app: Harness) -> None:
    token = await user_with_token(app)
    choices = await (await app.client.get("/v1/users/ann/inbox/choices", headers=token)).json()
    otp = next(c for c in choices["categories"] if c["key"] == "otp")
    assert otp["opt_out_allowed"] is False and all(otp["channels"].values())
    body = {"categories": {"otp": {"channels": {"sms": False}}}}
    resp = await app.client.put("/v1/users/ann/inbox/preferences", json=body, headers=token)
    assert resp.status == 422
    assert [e["field"] for e in (await resp.json())["errors"]] == ["categories.otp"]
    assert (await (await app.call("GET", "/v1/users/ann/preferences")).json())["categories"] == {}


async def test_the_hosted_page_saves_the_form_and_the_next_publish_is_suppressed(app: Harness) -> None:
    await user_with_token(app)
    page = await app.client.get(link(app))
    text = await page.text()
    assert page.status == 200 and "script" not in text and "style=" not in text
    assert 'value="otp/email" aria-label="otp by email" checked disabled' in text
    ticked = re.findall(r'value="([^"]+)"[^>]* checked(?! disabled)', text)
    assert "marketing/email" in ticked
    kept = [v for v in ticked if v != "marketing/email"]
    saved = await app.client.post(link(app), data=[("on", v) for v in kept])
    assert saved.status == 200 and "Saved." in await saved.text()
    assert 'value="marketing/email" aria-label="marketing by email">' in await saved.text()
    assert (await email_status(app, "marketing"))["reason"] == "preference:category:marketing:channel:email"
    assert (await email_status(app, "alerts"))["status"] != "suppressed"


async def test_an_expired_tampered_or_foreign_preferences_link_is_refused(app: Harness) -> None:
    await user_with_token(app)
    expired = link(app, now=app.svc.clock.now() - 3600)
    good = link(app)
    body, mac = good.rsplit("/", 1)[1].split(".")
    tampered = preference_center.PATH + body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + mac
    unsubscribe = signing.sign(app.svc.config.server.secret_key, "unsubscribe", {"t": app.tenant_id, "u": "ann"}, 60)
    for bad in (expired, tampered, preference_center.PATH + unsubscribe, preference_center.PATH + "garbage"):
        assert (await app.client.get(bad)).status == 403
        assert (await app.client.post(bad, data={})).status == 403
    assert (await (await app.call("GET", "/v1/users/ann/preferences")).json())["categories"] == {}


async def test_preferences_url_in_a_template_opens_that_users_page(app: Harness) -> None:
    await user_with_token(app)
    body = {"to": {"user_id": "ann"}, "content": {"email": {"subject": "Hi", "text": "Choose: {{ preferences_url }}"}}}
    nid = (await app.publish(body))["notifications"][0]["id"]
    await app.settled(nid)
    [mail] = [o for o in (await (await app.call("GET", "/v1/outbox")).json())["items"] if o["notification_id"] == nid]
    url = mail["content"]["text"].removeprefix("Choose: ")
    assert preference_center.PATH in url
    page = await app.client.get(url[url.index(preference_center.PATH) :])
    assert page.status == 200 and "Choose what you receive" in await page.text()


async def test_the_unsubscribe_page_links_to_the_preference_center(app: Harness) -> None:
    await user_with_token(app)
    url = await app.svc.links.url_for(app.tenant_id, "ann", "marketing", app.svc.clock.now())
    assert url is not None
    text = await (await app.client.get(url[url.index("/v1/unsubscribe/") :])).text()
    [choose] = re.findall(r'<a href="[^"]*(/v1/preferences/page/[^"]+)">Choose what you receive', text)
    assert (await app.client.get(choose)).status == 200


async def test_the_hosted_page_works_400_px_wide_and_by_keyboard(app: Harness, browser: Any) -> None:
    from playwright.async_api import expect

    await user_with_token(app)
    page = await browser.new_page(viewport={"width": 400, "height": 700})
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if "Content Security" in message.text else None)
    styled: list[int] = []
    page.on("response", lambda r: styled.append(r.status) if r.url.endswith("/static/page.css") else None)
    await page.goto(str(app.client.make_url(link(app))))
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the page scrolls sideways: {width}px"
    box = page.get_by_role("checkbox", name="marketing by email")
    await expect(box).to_be_checked()
    await expect(page.get_by_role("checkbox", name="otp by email")).to_be_disabled()
    await box.focus()
    await page.keyboard.press("Space")
    await expect(box).not_to_be_checked()
    await page.get_by_role("button", name="Save").focus()
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_have_text("Saved.")
    await expect(page.get_by_role("checkbox", name="marketing by email")).not_to_be_checked()
    assert (await email_status(app, "marketing"))["reason"] == "preference:category:marketing:channel:email"
    assert errors == [], "the page policy refused something the page loads"
    assert styled and set(styled) <= {200, 304}, "the stylesheet that keeps it narrow loaded"


async def test_the_inbox_socket_lists_and_switches_choices_and_refuses_otp_naming_the_field(app: Harness) -> None:
    from tests.inbox_support import connect

    auth = await user_with_token(app)
    live = await connect(app, auth["Authorization"].removeprefix("Bearer "))
    await live.send(type="choices")
    shown = await live.expect("choices")
    assert next(c for c in shown["categories"] if c["key"] == "alerts")["channels"]["sms"] is True
    await live.send(type="choose", category="alerts", channel="sms", on=False)
    after = await live.expect("choices")
    assert next(c for c in after["categories"] if c["key"] == "alerts")["channels"]["sms"] is False
    await live.send(type="choose", category="otp", channel="sms", on=False)
    refused = await live.expect("error")
    assert [e["field"] for e in refused["problem"]["errors"]] == ["categories.otp"]
    await live.send(type="choose", category="alerts", channel="pigeon", on=False)
    assert [e["field"] for e in (await live.expect("error"))["problem"]["errors"]] == ["channel"]
    prefs = await (await app.call("GET", "/v1/users/ann/preferences")).json()
    assert list(prefs["categories"]) == ["alerts"] and prefs["categories"]["alerts"]["channels"] == {"sms": False}
    await live.ws.close()
