"""A captured email's HTML behind its signed preview link: it opens without any key, under a
policy of its own, and a tampered, expired, mistargeted or other tenant's link is refused."""

from __future__ import annotations

from typing import Any

from alertflow import signing
from alertflow.api.outbox import PREVIEW_PURPOSE, PREVIEW_TTL_SECONDS
from tests.conftest import SMS, FakeClock, Harness, StartApp, add_tenant
from tests.test_publish_api import problem

HTML = '<p style="color: rgb(255, 0, 0)">Disk alert</p>'
EMAIL_WITH_HTML = {"email": {"subject": "Disk alert", "text": "/var is 95% full", "html": HTML}}
PREVIEW_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; sandbox"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


async def captured(app: Harness, content: dict[str, Any], to: dict[str, str], role: str = "owner") -> dict[str, Any]:
    """The outbox item the publish of ``content`` to ``to`` captured, as GET /v1/outbox lists it."""
    nid = (await app.publish({"to": to, "content": content}, role))["notifications"][0]["id"]
    found: list[dict[str, Any]] = []

    async def listed() -> bool:
        items = (await (await app.call("GET", "/v1/outbox", role)).json())["items"]
        found[:] = [i for i in items if i["notification_id"] == nid]
        return bool(found)

    await app.until(listed)
    return found[0]


async def test_an_email_s_preview_link_serves_its_html_without_a_key_under_its_own_policy(app: Harness) -> None:
    email = await captured(app, EMAIL_WITH_HTML, {"email": "ann@example.com"})
    assert email["preview_url"].startswith(f"/v1/outbox/{email['id']}/html?token=")
    resp = await app.client.get(email["preview_url"])
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "text/html"
    assert await resp.text() == HTML
    assert {name: resp.headers.get(name) for name in PREVIEW_HEADERS} == PREVIEW_HEADERS
    assert "Strict-Transport-Security" not in resp.headers, "public_url is not https"


async def test_the_dashboard_may_frame_its_own_origin_and_keeps_the_rest_of_its_policy(app: Harness) -> None:
    policy = (await app.client.get("/")).headers["Content-Security-Policy"]
    assert policy == (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self';"
        " form-action 'self'; base-uri 'none'; frame-ancestors 'none'; frame-src 'self'"
    )
    docs = (await app.client.get("/docs")).headers["Content-Security-Policy"]
    assert "frame-src" not in docs, "only the dashboard frames a preview"


async def test_sms_push_and_an_email_without_html_have_no_preview_url(app: Harness) -> None:
    sms = await captured(app, SMS, {"phone": "+15550100"})
    push = await captured(app, {"push": {"title": "Deploy", "body": "done"}}, {"push_token": "device-1"})
    text_only = await captured(app, {"email": {"subject": "Hi", "text": "plain"}}, {"email": "bo@example.com"})
    for item in (sms, push, text_only):
        assert "preview_url" not in item, item["channel"]
    # The route itself says the same of an SMS, even with a genuine signature for it.
    token = signing.sign(app.svc.links.secret, PREVIEW_PURPOSE, {"t": app.tenant_id, "o": sms["id"]}, 60)
    await problem(await app.client.get(f"/v1/outbox/{sms['id']}/html", params={"token": token}), 404)


async def test_a_tampered_or_missing_or_mistargeted_link_is_refused(app: Harness) -> None:
    email = await captured(app, EMAIL_WITH_HTML, {"email": "ann@example.com"})
    other = await captured(app, EMAIL_WITH_HTML, {"email": "bo@example.com"})
    path, _, token = email["preview_url"].partition("?token=")
    body, _, mac = token.partition(".")
    # The first character: the last one of a base64 MAC carries padding bits, and changing
    # only those decodes to the same MAC (the test failed when the MAC ended in A to D).
    flipped = ("A" if mac[0] != "A" else "B") + mac[1:]
    for bad in (f"{body}.{flipped}", f"{other['preview_url'].partition('?token=')[2].partition('.')[0]}.{mac}", ""):
        refused = await problem(await app.client.get(path, params={"token": bad}), 403)
        assert "preview_url" in refused["detail"]
    await problem(await app.client.get(path), 403)
    # A genuine link of one message does not open another.
    elsewhere = await problem(await app.client.get(f"/v1/outbox/{other['id']}/html", params={"token": token}), 403)
    assert "another message" in elsewhere["detail"]
    # Nor does a key stand in for the link: the signature is the one way in.
    await problem(await app.client.get(path, headers=app.headers("owner")), 403)


async def test_a_link_stops_working_once_its_time_is_up(start_app: StartApp) -> None:
    clock = FakeClock(1_800_000_000.0)
    app = await start_app(clock=clock)
    email = await captured(app, EMAIL_WITH_HTML, {"email": "ann@example.com"})
    clock.t += PREVIEW_TTL_SECONDS - 1
    assert (await app.client.get(email["preview_url"])).status == 200
    clock.t += 1
    expired = await problem(await app.client.get(email["preview_url"]), 403)
    assert "expired" in expired["detail"]
    fresh = await captured(app, EMAIL_WITH_HTML, {"email": "bo@example.com"})
    assert (await app.client.get(fresh["preview_url"])).status == 200, "a new listing mints a new link"


async def test_a_link_bound_to_one_tenant_does_not_open_another_tenant_s_email(app: Harness) -> None:
    _, other_keys = await add_tenant(app.svc, "globex")
    app.keys.update({f"globex-{role}": key for role, key in other_keys.items()})
    theirs = await captured(app, EMAIL_WITH_HTML, {"email": "cy@example.com"}, "globex-owner")
    assert (await app.client.get(theirs["preview_url"])).status == 200, "their own link works"
    # A genuine signature for our tenant naming their message's id finds nothing of ours.
    ours = signing.sign(app.svc.links.secret, PREVIEW_PURPOSE, {"t": app.tenant_id, "o": theirs["id"]}, 60)
    await problem(await app.client.get(f"/v1/outbox/{theirs['id']}/html", params={"token": ours}), 404)
