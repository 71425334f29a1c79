"""Templates over HTTP: versions and rollback, locales, missing variables, sandbox, preview."""

from __future__ import annotations

import json
from typing import Any

from alertflow.templates.limits import MAX_TEMPLATE_NODES
from tests.conftest import Harness, add_tenant

WELCOME = {
    "key": "welcome",
    "name": "Welcome",
    "channels": {
        "email": {"subject": "Welcome, {{name}}", "html": "<p>Hello <b>{{name}}</b></p>"},
        "sms": {"body": "Hi {{name}}, welcome!"},
    },
}


async def create(app: Harness, body: dict[str, Any] = WELCOME) -> dict[str, Any]:
    resp = await app.call("POST", "/v1/templates", "admin", body)
    assert resp.status == 201, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


async def sent_content(app: Harness, body: dict[str, Any], channel: str = "email") -> dict[str, Any]:
    nid = (await app.publish(body))["notifications"][0]["id"]
    done = await app.settled(nid)
    assert done["status"] == "sent", done
    outbox = (await (await app.call("GET", f"/v1/outbox?channel={channel}")).json())["items"]
    return next(o["content"] for o in outbox if o["notification_id"] == nid)  # type: ignore[no-any-return]


async def test_v1_v2_then_activating_v1_delivers_v1s_words(app: Harness) -> None:
    assert (await create(app))["active_version"] == 1
    v2 = {"channels": {"email": {"subject": "Hey {{name}}", "text": "v2 words"}}}
    resp = await app.call("PUT", "/v1/templates/welcome", "admin", v2)
    assert (await resp.json())["active_version"] == 2
    resp = await app.call("POST", "/v1/templates/welcome/activate", "admin", {"version": 1})
    assert (await resp.json())["active_version"] == 1
    content = await sent_content(
        app, {"to": {"email": "a@example.com"}, "template": "welcome", "data": {"name": "Ann"}, "channels": ["email"]}
    )
    assert content["subject"] == "Welcome, Ann"
    pinned = await sent_content(
        app, {"to": {"email": "a@example.com"}, "template": "welcome", "template_version": 2, "data": {"name": "Ann"}}
    )
    assert pinned["text"] == "v2 words"
    versions = (await (await app.call("GET", "/v1/templates/welcome/versions")).json())["items"]
    assert [v["version"] for v in versions] == [1, 2]
    assert (await (await app.call("GET", "/v1/templates/welcome/versions/2")).json())["channels"]["email"][
        "text"
    ] == "v2 words"


async def test_the_notification_records_the_version_it_used(app: Harness) -> None:
    await create(app)
    nid = (
        await app.publish(
            {"to": {"email": "a@example.com"}, "template": "welcome", "data": {"name": "A"}, "channels": ["email"]}
        )
    )["notifications"][0]["id"]
    got = await app.notification(nid)
    assert (got["template"], got["template_version"]) == ("welcome", 1)


async def test_locale_variants_fall_back_from_region_to_language_to_default(app: Harness) -> None:
    await create(
        app,
        {
            "key": "greet",
            "channels": {"email": {"subject": "Hello", "text": "Hello"}},
            "locales": {"de": {"email": {"subject": "Hallo", "text": "Hallo"}}},
        },
    )
    for locale, expected in (("de-AT", "Hallo"), ("de", "Hallo"), ("fr", "Hello")):
        await app.call("PUT", "/v1/users/u1", "admin", {"email": "u1@example.com", "locale": locale})
        content = await sent_content(app, {"to": {"user_id": "u1"}, "template": "greet"})
        assert content["subject"] == expected, locale


async def test_a_missing_variable_is_422_naming_it_and_nothing_is_created(app: Harness) -> None:
    await create(app)
    resp = await app.call(
        "POST", "/v1/notifications/publish", body={"to": {"email": "a@example.com"}, "template": "welcome"}
    )
    assert resp.status == 422
    assert [e["field"] for e in (await resp.json())["errors"]] == ["data.name"]
    resp = await app.call(
        "POST",
        "/v1/notifications/publish",
        body={"to": {"email": "a@example.com"}, "content": {"sms": {"body": "code {{code}}"}}},
    )
    assert [e["field"] for e in (await resp.json())["errors"]] == ["data.code"]
    assert await app.rows("SELECT * FROM notifications") == []


async def test_an_unknown_template_or_version_is_422(app: Harness) -> None:
    await create(app)
    for body, field in (
        ({"template": "nope"}, "template"),
        ({"template": "welcome", "template_version": 9}, "template_version"),
    ):
        resp = await app.call(
            "POST", "/v1/notifications/publish", body={"to": {"email": "a@example.com"}, "data": {"name": "x"}, **body}
        )
        assert resp.status == 422 and (await resp.json())["errors"][0]["field"] == field


async def test_html_is_escaped_in_email_html_but_not_in_sms(app: Harness) -> None:
    await create(app)
    data = {"name": "<script>x</script> & Co"}
    email = await sent_content(
        app, {"to": {"email": "a@example.com"}, "template": "welcome", "data": data, "channels": ["email"]}
    )
    assert "&lt;script&gt;" in email["html"] and "<script>" not in email["html"]
    assert "<script>x</script> & Co" in email["text"], "text is derived from html, unescaped"
    sms = await sent_content(
        app, {"to": {"phone": "+15550000001"}, "template": "welcome", "data": data, "channels": ["sms"]}, "sms"
    )
    assert sms["body"] == "Hi <script>x</script> & Co, welcome!"


async def test_sandbox_escapes_are_refused_when_saved_or_when_rendered(app: Harness) -> None:
    attempts = [
        "{{ ''.__class__.__mro__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ '{0.__class__}'.format(name) }}",
        "{{ lipsum.__globals__['os'].environ }}",
    ]
    for i, source in enumerate(attempts):
        key = f"evil{i}"
        resp = await app.call("POST", "/v1/templates", "admin", {"key": key, "channels": {"sms": {"body": source}}})
        if resp.status == 422:
            continue
        assert resp.status == 201
        data = {v: "x" for v in (await resp.json())["variables"]}
        preview = await app.call("POST", f"/v1/templates/{key}/preview", body={"data": {"name": "x", **data}})
        assert preview.status == 422, (source, await preview.text())


async def test_server_objects_are_not_reachable_by_name(app: Harness) -> None:
    await create(app, {"key": "peek", "channels": {"sms": {"body": "{{ config }}{{ request }}"}}})
    preview = await app.call("POST", "/v1/templates/peek/preview", body={"data": {}})
    assert preview.status == 422
    fields = {e["field"] for e in (await preview.json())["errors"]}
    assert {"data.config", "data.request"} <= fields, "only the publish data can fill these names"


async def test_huge_output_is_capped_and_fails_the_delivery_with_a_reason(app: Harness) -> None:
    await create(
        app, {"key": "huge", "channels": {"sms": {"body": "{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}"}}}
    )
    nid = (await app.publish({"to": {"phone": "+15550000001"}, "template": "huge"}))["notifications"][0]["id"]
    done = await app.settled(nid)
    assert done["deliveries"][0]["status"] == "failed"
    assert done["deliveries"][0]["reason"].startswith("render:")


async def test_preview_equals_what_the_outbox_receives(app: Harness) -> None:
    await create(app)
    preview = await app.call("POST", "/v1/templates/welcome/preview", "member", {"data": {"name": "Zoë"}})
    assert preview.status == 200
    rendered = (await preview.json())["channels"]
    assert rendered["sms"]["info"] == {"encoding": "UCS-2", "segments": 1, "characters": 16}
    email = await sent_content(
        app, {"to": {"email": "a@example.com"}, "template": "welcome", "data": {"name": "Zoë"}, "channels": ["email"]}
    )
    assert email == rendered["email"]
    missing = await app.call("POST", "/v1/templates/welcome/preview", body={"data": {}})
    assert missing.status == 422 and (await missing.json())["errors"][0]["field"] == "data.name"


async def test_members_read_and_preview_but_cannot_write(app: Harness) -> None:
    await create(app)
    assert (await app.call("GET", "/v1/templates", "member")).status == 200
    assert (await app.call("POST", "/v1/templates", "member", {**WELCOME, "key": "x"})).status == 403
    assert (await app.call("PUT", "/v1/templates/welcome", "member", WELCOME)).status == 403
    assert (await app.call("POST", "/v1/templates/welcome/activate", "member", {"version": 1})).status == 403
    assert (await app.call("DELETE", "/v1/templates/welcome", "member")).status == 403


async def test_another_tenants_template_is_404(app: Harness) -> None:
    await create(app)
    _, other = await add_tenant(app.svc, "globex")
    headers = {"Authorization": f"Bearer {other['admin']}"}
    assert (await app.client.get("/v1/templates/welcome", headers=headers)).status == 404
    assert (await app.client.post("/v1/templates/welcome/preview", json={}, headers=headers)).status == 404
    resp = await app.client.post(
        "/v1/notifications/publish",
        headers=headers,
        json={"to": {"email": "a@example.com"}, "template": "welcome", "data": {"name": "x"}},
    )
    assert resp.status == 422


async def test_invalid_templates_are_refused_naming_the_field(app: Harness) -> None:
    resp = await app.call(
        "POST", "/v1/templates", "admin", {"key": "bad", "channels": {"email": {"subject": "{% if %}", "text": "x"}}}
    )
    assert resp.status == 422 and (await resp.json())["errors"][0]["field"] == "channels.email.subject"
    resp = await app.call("POST", "/v1/templates", "admin", {"key": "Bad Key", "channels": {"sms": {"body": "x"}}})
    assert resp.status == 422 and (await resp.json())["errors"][0]["field"] == "key"
    await create(app)
    assert (await app.call("POST", "/v1/templates", "admin", WELCOME)).status == 409
    assert (await app.call("PUT", "/v1/templates/nope", "admin", {"channels": {"sms": {"body": "x"}}})).status == 404
    assert (await app.call("POST", "/v1/templates/welcome/activate", "admin", {"version": 7})).status == 422


async def test_deleting_a_template_fails_deliveries_still_waiting_for_it(app: Harness) -> None:
    await create(app)
    out = await app.publish(
        {
            "to": {"email": "a@example.com"},
            "template": "welcome",
            "data": {"name": "A"},
            "channels": ["email"],
            "send_at": "2099-01-01T00:00:00Z",
        }
    )
    assert (await app.call("DELETE", "/v1/templates/welcome", "admin")).status == 204
    assert (await app.call("GET", "/v1/templates/welcome")).status == 404
    assert (await create(app))["active_version"] == 1, "a deleted key starts again at version 1"
    assert out["notifications"][0]["status"] == "scheduled"


async def test_templates_see_the_users_name_and_data(app: Harness) -> None:
    await app.call("PUT", "/v1/users/u1", "admin", {"email": "u1@example.com", "name": "Ann", "data": {"plan": "pro"}})
    await create(
        app,
        {
            "key": "plan",
            "channels": {"email": {"subject": "{{ user.name }} on {{ user.data.plan }}", "text": "Hi {{ user.name }}"}},
        },
    )
    content = await sent_content(app, {"to": {"user_id": "u1"}, "template": "plan"})
    assert content["subject"] == "Ann on pro"


# -- Publish, preview and delivery decide alike

AGREEMENT = [
    # (text source, data, what an email-only recipient gets or the 422 field, what user u1 gets)
    ('{{ user.data.plan | default("free") }}', {}, "free", "pro"),
    ('Hi {{ user.name | default("there") }}', {}, "Hi there", "Hi Ann"),
    ("Hi {{ user.name }}", {}, "data.user", "Hi Ann"),
    ("{% if user is defined %}{{ user.name }}{% else %}friend{% endif %}", {}, "friend", "Ann"),
    ("{% if user.data.plan is defined %}{{ user.data.plan }}{% endif %}.", {}, ".", "pro."),
    ("{% for i in items %}{{ i }}{% endfor %}", {}, "data.items", "data.items"),
    ("{% for i in items %}{{ i }}{% endfor %}", {"items": [1, 2]}, "12", "12"),
    ("{{ order.id | default('none') }}", {}, "none", "none"),
    ("{{ name }}", {}, "data.name", "data.name"),
    ("{{ name }}", {"name": "Bo"}, "Bo", "Bo"),
    # A client may send its own `user` for recipients without one; a user record wins.
    ("{{ user.name }}", {"user": {"name": "Cy"}}, "Cy", "Ann"),
]


async def outcome(app: Harness, body: dict[str, Any]) -> str:
    """What a publish of one email comes to: the 422's fields, or the text delivered."""
    resp = await app.call("POST", "/v1/notifications/publish", "member", body)
    if resp.status == 422:
        return ",".join(e["field"] for e in (await resp.json())["errors"])
    assert resp.status == 202, await resp.text()
    nid = (await resp.json())["notifications"][0]["id"]
    done = await app.settled(nid)
    assert done["status"] == "sent", done  # never a render failure publish could have known
    outbox = (await (await app.call("GET", "/v1/outbox?channel=email")).json())["items"]
    return str(next(o["content"]["text"] for o in outbox if o["notification_id"] == nid))


async def test_publish_preview_and_delivery_agree_on_what_a_template_needs(app: Harness) -> None:
    user = {"email": "ann@example.com", "name": "Ann", "data": {"plan": "pro"}}
    assert (await app.call("PUT", "/v1/users/u1", "admin", user)).status in (200, 201)
    for number, (source, data, without_user, with_user) in enumerate(AGREEMENT):
        key = f"t{number}"
        await create(app, {"key": key, "channels": {"email": {"subject": "s", "text": source}}})
        preview = await app.call("POST", f"/v1/templates/{key}/preview", "member", {"data": data})
        previewed = (
            (await preview.json())["channels"]["email"]["text"]
            if preview.status == 200
            else ",".join(e["field"] for e in (await preview.json())["errors"])
        )
        to_email = {"to": {"email": "a@example.com"}, "template": key, "data": data}
        to_user = {"to": {"user_id": "u1"}, "template": key, "data": data}
        inline = {
            "to": {"email": "a@example.com"},
            "content": {"email": {"subject": "s", "text": source}},
            "data": data,
        }
        got = (previewed, await outcome(app, to_email), await outcome(app, inline), await outcome(app, to_user))
        assert got == (without_user, without_user, without_user, with_user), source


async def test_a_template_that_needs_user_is_refused_for_a_list_with_one_recipient_without(app: Harness) -> None:
    assert (await app.call("PUT", "/v1/users/u1", "admin", {"email": "ann@example.com", "name": "Ann"})).status in (
        200,
        201,
    )
    await create(app, {"key": "hi", "channels": {"email": {"subject": "s", "text": "Hi {{ user.name }}"}}})
    body = {"to": [{"user_id": "u1"}, {"email": "b@example.com"}], "template": "hi"}
    resp = await app.call("POST", "/v1/notifications/publish", "member", body)
    assert resp.status == 422
    (error,) = (await resp.json())["errors"]
    assert error["field"] == "data.user" and "user_id" in error["message"]
    bulk = await app.call("POST", "/v1/notifications/bulk", "admin", body)
    assert bulk.status == 422, await bulk.text()
    assert [e["field"] for e in (await bulk.json())["errors"]] == ["data.user"]
    assert (
        await app.call("POST", "/v1/notifications/publish", "member", {**body, "to": [{"user_id": "u1"}]})
    ).status == 202


# -- Sources that Python's compiler cannot take are 422s, not 500s


def nested(opening: str, closing: str, depth: int) -> str:
    return opening * depth + "{{ x }}" + closing * depth


UNCOMPILABLE = [
    (nested("{% for i in range(1) %}", "{% endfor %}", 21), "blocks nest more than 10"),
    (nested("{% for i in range(1) %}", "{% endfor %}", 200), "blocks nest more than 10"),
    (nested("{% if x %}", "{% endif %}", 120), "blocks nest more than 10"),
    (nested("{% with a = 1 %}", "{% endwith %}", 30), "blocks nest more than 10"),
    (nested("{% macro m() %}", "{% endmacro %}", 25), "blocks nest more than 10"),
    (nested("{% call range(1) %}", "{% endcall %}", 25), "blocks nest more than 10"),
    (nested("{% filter upper %}", "{% endfilter %}", 25), "blocks nest more than 10"),
    ("{{ " + "1" * 5000 + " }}", "4300 digits"),
    ("{{ " + "1" * 400 + " }}", "larger than 1024 bits"),
    ("{{ 1e999 }}", "too large for a float"),
    ("{{ " + "(" * 300 + "x" + ")" * 300 + " }}", "nested too deeply"),
    ("{{ " + "+".join(["x"] * 300) + " }}", "expressions nest more than 30"),
    ("{{ x" + ".a" * 300 + " }}", "expressions nest more than 30"),
    ("{{ x" + "|upper" * 300 + " }}", "expressions nest more than 30"),
    ("{{ " + "[" * 90 + "1" + "]" * 90 + " }}", "nest"),
    (" ".join(f"{{{{ v{i} }}}}" for i in range(10_000)), f"more than {MAX_TEMPLATE_NODES} template nodes"),
    ("x" * (256 * 1024 + 1), "longer than 262144 bytes"),
]


async def test_sources_the_compiler_cannot_take_are_422s_naming_the_field_and_limit(app: Harness) -> None:
    for source, message in UNCOMPILABLE:
        saved = await app.call("POST", "/v1/templates", "admin", {"key": "k", "channels": {"sms": {"body": source}}})
        inline = await app.call(
            "POST",
            "/v1/notifications/publish",
            "member",
            {"to": {"phone": "+15550000001"}, "content": {"sms": {"body": source}}, "data": {"x": 1}},
        )
        for resp, field in ((saved, "channels.sms.body"), (inline, "content.sms.body")):
            assert resp.status == 422, (source[:60], await resp.text())
            (error,) = (await resp.json())["errors"]
            assert error["field"] == field and message in error["message"], (source[:60], error)
    assert (await (await app.call("GET", "/v1/templates")).json())["items"] == []


async def test_templates_at_the_limits_are_accepted(app: Harness) -> None:
    deepest = nested("{% for i in range(1) %}", "{% endfor %}", 10)
    widest = " ".join(
        f"{{{{ v{i} }}}}" for i in range(MAX_TEMPLATE_NODES // 2 - 1)
    )  # with text runs: the limit, less 1
    for number, source in enumerate((deepest, widest, "{{ " + "(" * 25 + "x" + ")" * 25 + " }}")):
        await create(app, {"key": f"ok{number}", "channels": {"sms": {"body": source}}})


async def test_versions_saved_by_an_older_release_are_read_by_todays_rules(app: Harness) -> None:
    now = app.svc.clock.now()

    def saved_before(conn: Any, key: str, body: str, variables: list[str]) -> None:
        # As a release with looser rules stored it: its variables list, no limits checked.
        content = json.dumps({"channels": {"email": {"subject": "s", "text": body}}, "locales": {}})
        conn.execute(
            "INSERT INTO template_versions (tenant_id, key, version, name, content, variables, created_at)"
            " VALUES (?,?,1,NULL,?,?,?)",
            (app.tenant_id, key, content, json.dumps(variables), now),
        )
        conn.execute(
            "INSERT INTO templates (tenant_id, key, name, active_version, latest_version, created_at, updated_at)"
            " VALUES (?,?,NULL,1,1,?,?)",
            (app.tenant_id, key, now, now),
        )

    huge = " ".join(f"{{{{ v{i}|default('') }}}}" for i in range(MAX_TEMPLATE_NODES))
    await app.svc.database.write(
        lambda conn: saved_before(conn, "plan", '{{ user.data.plan|default("free") }}', ["user"])
    )
    await app.svc.database.write(lambda conn: saved_before(conn, "huge", huge, []))
    got = await app.call("GET", "/v1/templates/plan/versions")
    assert [v["variables"] for v in (await got.json())["items"]] == [[]]
    assert (await outcome(app, {"to": {"email": "a@example.com"}, "template": "plan"})) == "free"
    for resp in (
        await app.call(
            "POST", "/v1/notifications/publish", "member", {"to": {"email": "a@example.com"}, "template": "huge"}
        ),
        await app.call("POST", "/v1/templates/huge/preview", "member", {"data": {}}),
    ):
        assert resp.status == 422
        (error,) = (await resp.json())["errors"]
        assert f"more than {MAX_TEMPLATE_NODES} template nodes" in error["message"] and "save a new" in error["message"]
