"""The audit log through the API: an entry for each audited change with who, from where, what
and a diff with secrets masked; admins read it, nobody changes it; a failed change logs nothing."""

from __future__ import annotations

from typing import Any

from alertflow.recipients.preferences import TENANT_DEFAULTS
from tests.conftest import EMAIL, Harness, Script, StartApp
from tests.fakes.twilio import AUTH_TOKEN, FakeTwilio
from tests.signin_support import add_member, browsers
from tests.test_channels import set_channel, twilio
from tests.test_delivery import FAST_RETRIES, scripted_app
from tests.test_schedules import DIGEST


async def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status == status, await resp.text()
    return None if status == 204 else await resp.json()


async def log(app: Harness, query: str = "") -> list[dict[str, Any]]:
    """Every entry the query finds, oldest first, following next_cursor."""
    found, cursor = [], None
    while True:
        sep = "&" if "?" in query else "?"
        page = await ok(
            await app.call("GET", f"/v1/audit{query}" + (f"{sep}cursor={cursor}" if cursor else ""), "admin")
        )
        found += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found[::-1]


async def key_prefix(app: Harness, role: str) -> str:
    return "_".join(app.keys[role].split("_")[:2])


async def test_every_audited_change_through_the_api_is_logged_with_actor_client_and_resource(app: Harness) -> None:
    template = {"key": "welcome", "channels": {"sms": {"body": "hi"}}}
    await ok(await app.call("POST", "/v1/templates", "admin", template), 201)
    await ok(await app.call("PUT", "/v1/templates/welcome", "admin", {"channels": {"sms": {"body": "hello"}}}))
    await ok(await app.call("POST", "/v1/templates/welcome/activate", "admin", {"version": 1}))
    await ok(await app.call("DELETE", "/v1/templates/welcome", "admin"), 204)
    await ok(await app.call("PUT", "/v1/categories/billing", "admin", {"priority": "high"}))
    await ok(await app.call("DELETE", "/v1/categories/billing", "admin"), 204)
    defaults = {"channels": {"sms": False}}
    await ok(await app.call("PUT", "/v1/preferences/defaults", "admin", defaults))
    sid = (await ok(await app.call("POST", "/v1/schedules", "admin", DIGEST), 201))["id"]
    for step in ("pause", "resume"):
        await ok(await app.call("POST", f"/v1/schedules/{sid}/{step}", "admin"))
    await ok(await app.call("DELETE", f"/v1/schedules/{sid}", "admin"), 204)
    await ok(await app.call("PUT", "/v1/suppressions/email/ann@example.com", "admin", {"detail": "asked"}))
    await ok(await app.call("DELETE", "/v1/suppressions/email/ann@example.com", "admin"), 204)
    await ok(await app.call("PUT", "/v1/users/ann", "admin", {"email": "ann@example.com"}))
    await ok(await app.call("DELETE", "/v1/users/ann", "admin"), 204)
    member_id = (
        await ok(await app.call("POST", "/v1/members", "admin", {"email": "bo@example.com", "role": "member"}), 201)
    )["member_id"]
    await ok(await app.call("PATCH", f"/v1/members/{member_id}", "admin", {"role": "admin"}))
    await ok(await app.call("DELETE", f"/v1/members/{member_id}", "owner"), 204)
    entries = await log(app)
    assert [(e["action"], e["resource"]["type"], e["resource"]["id"]) for e in entries] == [
        ("template.create", "template", "welcome"),
        ("template.update", "template", "welcome"),
        ("template.activate", "template", "welcome"),
        ("template.delete", "template", "welcome"),
        ("category.update", "category", "billing"),
        ("category.delete", "category", "billing"),
        ("preferences.defaults.update", "preferences", TENANT_DEFAULTS),
        ("schedule.create", "schedule", sid),
        ("schedule.pause", "schedule", sid),
        ("schedule.resume", "schedule", sid),
        ("schedule.delete", "schedule", sid),
        ("suppression.put", "suppression", "email:ann@example.com"),
        ("suppression.delete", "suppression", "email:ann@example.com"),
        ("user.erase", "user", "ann"),
        ("member.invite", "member", member_id),
        ("member.update", "member", member_id),
        ("member.remove", "member", member_id),
    ]
    admin, owner = await key_prefix(app, "admin"), await key_prefix(app, "owner")
    assert {e["actor"]["prefix"] for e in entries[:-1]} == {admin}
    assert entries[-1]["actor"] == {"type": "key", "prefix": owner}
    assert {e["client"] for e in entries} == {"127.0.0.1"}
    assert all(e["id"].startswith("aud_") and e["at"] for e in entries)
    assert entries[1]["after"]["channels"] == {"sms": {"body": "hello"}}
    assert entries[6]["after"]["channels"]["sms"] is False
    assert (entries[15]["before"], entries[15]["after"]) == ({"role": "member"}, {"role": "admin"})


async def test_dead_letters_replayed_and_deleted_are_logged(start_app: StartApp, script: Script) -> None:
    script.set(fail="retry")
    app = await scripted_app(start_app, script, queue={**FAST_RETRIES, "max_attempts": 1})
    out = await app.publish({"to": [{"email": f"{n}@example.com"} for n in "abc"], "content": EMAIL})
    dead = [(await app.settled(n["id"]))["deliveries"][0]["id"] for n in out["notifications"]]
    await ok(await app.call("POST", f"/v1/dlq/{dead[0]}/replay", "admin"), 202)
    await ok(await app.call("POST", "/v1/dlq/replay", "admin", {"delivery_ids": [dead[1]]}), 202)
    await ok(await app.call("DELETE", f"/v1/dlq/{dead[2]}", "admin"), 204)
    entries = await log(app, "?action=dlq.*")
    assert [(e["action"], e["resource"]["id"]) for e in entries] == [
        ("dlq.replay", dead[0]),
        ("dlq.replay", None),
        ("dlq.delete", dead[2]),
    ]
    assert entries[1]["after"] == {"all": False, "delivery_ids": [dead[1]]}


async def test_a_channels_provider_secrets_are_masked_before_and_after(app: Harness) -> None:
    async with FakeTwilio() as fake:
        await ok(await set_channel(app, "sms", twilio(fake)))
        changed = twilio(fake)
        changed["config"]["from_number"] = "+15017122662"
        await ok(await set_channel(app, "sms", changed))
    [first, second] = await log(app, "?action=channel.update")
    assert second["resource"] == {"type": "channel", "id": "sms"}
    assert second["before"][0]["config"]["auth_token"] == "********"
    assert second["after"][0]["config"]["auth_token"] == "********"
    assert second["after"][0]["config"]["from_number"] == "+15017122662"
    assert first["after"][0]["type"] == "twilio"
    everything = str(await log(app))
    assert AUTH_TOKEN not in everything


async def test_sign_ins_and_failed_sign_ins_are_logged_with_the_members_email(app: Harness) -> None:
    await add_member(app, "ann@example.com", "admin")
    async with browsers(app) as new:
        assert (await new().sign_in("ann@example.com", "wrong password")).status == 401
        assert (await new().sign_in("nobody@example.com", "wrong password")).status == 401
        browser = new()
        assert (await browser.sign_in("ann@example.com")).status == 303
        await ok(await browser.call("PUT", "/v1/categories/ops", {"priority": "high"}))
        entries = [(e["action"], e["actor"]) for e in await log(app)]
        from_browser = await ok(await browser.call("GET", "/v1/audit?action=member.*"))
    ann = {"type": "member", "email": "ann@example.com"}
    assert entries == [("member.sign_in_failed", ann), ("member.sign_in", ann), ("category.update", ann)]
    assert [e["action"] for e in from_browser["items"]] == ["member.sign_in", "member.sign_in_failed"]


async def test_only_admins_and_owners_read_the_log_and_no_one_can_change_it(app: Harness) -> None:
    await ok(await app.call("PUT", "/v1/categories/ops", "admin", {"priority": "high"}))
    member = await app.call("GET", "/v1/audit", "member")
    assert member.status == 403 and member.content_type == "application/problem+json"
    assert len((await ok(await app.call("GET", "/v1/audit", "owner")))["items"]) == 1
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert (await app.call(method, "/v1/audit", "owner", {})).status == 405, method
    assert len(await log(app)) == 1


async def test_filters_combine_and_pages_follow_the_cursor(app: Harness) -> None:
    for n in range(5):
        await ok(await app.call("PUT", f"/v1/categories/c{n}", "admin", {"priority": "high"}))
    await ok(await app.call("DELETE", "/v1/categories/c0", "owner"), 204)
    first = await ok(await app.call("GET", "/v1/audit?limit=2", "admin"))
    assert [e["resource"]["id"] for e in first["items"]] == ["c0", "c4"] and first["next_cursor"]
    assert len(await log(app, "?limit=2")) == 6
    assert [e["resource"]["id"] for e in await log(app, "?action=category.update&limit=1")] == [
        f"c{n}" for n in range(5)
    ]
    assert [e["action"] for e in await log(app, "?action=category.*")] == ["category.update"] * 5 + ["category.delete"]
    owner = await key_prefix(app, "owner")
    assert [e["action"] for e in await log(app, f"?actor={owner}")] == ["category.delete"]
    assert await log(app, "?action=template.*") == []
    assert await log(app, "?since=2100-01-01T00:00:00Z") == []
    assert len(await log(app, "?since=2000-01-01T00:00:00Z&until=2100-01-01T00:00:00Z")) == 6
    for query, field in (
        ("since=yesterday", "since"),
        ("limit=0", "limit"),
        ("cursor=x", "cursor"),
        ("actor=" + "a" * 300, "actor"),
    ):
        resp = await app.call("GET", f"/v1/audit?{query}", "admin")
        assert resp.status == 422, query
        assert (await resp.json())["errors"][0]["field"] == field


async def test_a_change_that_fails_writes_no_entry(app: Harness) -> None:
    assert (await app.call("DELETE", "/v1/templates/nothing", "admin")).status == 404
    assert (await app.call("POST", "/v1/templates/nothing/activate", "admin", {"version": 1})).status == 404
    assert (await app.call("DELETE", "/v1/dlq/del_nothing", "admin")).status == 404
    assert (await app.call("POST", "/v1/schedules/sch_nothing/pause", "admin")).status == 404
    assert (await app.call("DELETE", "/v1/users/nobody", "admin")).status == 404
    body = {"email": "bo@example.com", "role": "member"}
    await ok(await app.call("POST", "/v1/members", "admin", body), 201)
    assert (await app.call("POST", "/v1/members", "admin", body)).status == 409  # raised inside the write
    assert (await app.call("PUT", "/v1/categories/x", "admin", {"priority": "urgent!"})).status == 422
    assert [e["action"] for e in await log(app)] == ["member.invite"]


async def test_keys_and_webhooks_are_logged_and_a_webhook_urls_credentials_are_masked(app: Harness) -> None:
    issued = await ok(await app.call("POST", "/v1/keys", "admin", {"name": "ci", "role": "member"}), 201)
    await ok(await app.call("DELETE", f"/v1/keys/{issued['prefix']}", "admin"), 204)
    assert (await app.call("DELETE", f"/v1/keys/{issued['prefix']}", "admin")).status == 404
    url = "http://hook:s3cret-pw@127.0.0.1:9/hook?token=s3cret-token"
    created = await ok(await app.call("POST", "/v1/webhooks", "admin", {"url": url, "events": ["delivery.sent"]}), 201)
    wid = created["id"]
    await ok(await app.call("PATCH", f"/v1/webhooks/{wid}", "admin", {"description": "ops"}))
    await ok(await app.call("POST", f"/v1/webhooks/{wid}/rotate-secret", "admin"))
    await ok(await app.call("DELETE", f"/v1/webhooks/{wid}", "admin"), 204)
    assert (await app.call("PATCH", f"/v1/webhooks/{wid}", "admin", {"description": "x"})).status == 404
    entries = await log(app)
    assert [(e["action"], e["resource"]["id"]) for e in entries] == [
        ("key.create", issued["prefix"]),
        ("key.revoke", issued["prefix"]),
        ("webhook.create", wid),
        ("webhook.update", wid),
        ("webhook.rotate_secret", wid),
        ("webhook.delete", wid),
    ]
    assert entries[0]["after"] == {"role": "member", "name": "ci"}
    assert entries[2]["after"]["url"] == "http://********@127.0.0.1:9/hook?token=********"
    assert entries[3]["after"] == {"description": "ops"}
    text = str(entries)
    assert "s3cret" not in text and created["secret"] not in text and issued["api_key"] not in text
