"""Previewing a template body before it is saved (POST /v1/templates/preview): rendered as
delivery would, checked as a save would, and nothing stored."""

from __future__ import annotations

from typing import Any

from tests.conftest import Harness

DRAFT: dict[str, Any] = {
    "channels": {
        "email": {"subject": "Welcome, {{ name }}", "html": "<p>Hello <b>{{ name }}</b></p>"},
        "sms": {"body": "Hi {{ name }}"},
    },
    "locales": {"de-AT": {"sms": {"body": "Servus {{ name }}"}}},
    "data": {"name": "Zoë <3"},
}


async def preview(app: Harness, body: dict[str, Any], role: str = "member") -> tuple[int, dict[str, Any]]:
    resp = await app.call("POST", "/v1/templates/preview", role, body)
    return resp.status, await resp.json()


def fields(problem: dict[str, Any]) -> list[str]:
    return [e["field"] for e in problem["errors"]]


async def test_a_member_previews_an_unsaved_body_in_every_channel_and_locale_and_nothing_is_stored(
    app: Harness,
) -> None:
    status, out = await preview(app, DRAFT)
    assert status == 200, out
    assert out["locale"] is None
    assert out["variables"] == ["name"]
    email = out["channels"]["email"]
    assert email["subject"] == "Welcome, Zoë <3"
    assert email["html"] == "<p>Hello <b>Zoë &lt;3</b></p>", "html is escaped as delivery escapes it"
    assert email["text"] == "Hello Zoë <3", "text comes from the html, as delivery derives it"
    assert out["channels"]["sms"] == {
        "body": "Hi Zoë <3",
        "info": {"encoding": "UCS-2", "segments": 1, "characters": 9},
    }

    status, out = await preview(app, {**DRAFT, "locale": "de_AT"})
    assert (status, out["locale"]) == (200, "de-at")
    assert out["channels"]["sms"]["body"] == "Servus Zoë <3"
    assert out["channels"]["email"]["subject"] == "Welcome, Zoë <3", "a channel the locale leaves out falls back"

    listed = await (await app.call("GET", "/v1/templates", "member")).json()
    assert listed["items"] == []


async def test_a_draft_that_would_not_save_is_a_422_naming_the_field(app: Harness) -> None:
    broken = {"channels": {"email": {"subject": "Hi {{ name", "text": "ok"}}, "data": {"name": "Ann"}}
    status, out = await preview(app, broken)
    assert status == 422
    assert fields(out) == ["channels.email.subject"]
    assert "channels.email.subject" in out["detail"]

    status, out = await preview(app, {"channels": {"sms": {"body": "x"}}, "locales": {"de": {"push": {"body": "y"}}}})
    assert (status, fields(out)) == (422, ["locales.de.push"]), "a locale may only reword the default's channels"

    status, out = await preview(app, {"channels": {}})
    assert (status, fields(out)) == (422, ["channels"])

    status, out = await preview(app, {"channels": {"sms": {"body": "x"}}, "data": [], "key": "k"})
    assert status == 422
    assert sorted(fields(out)) == ["data", "key"]


async def test_data_the_draft_needs_and_lacks_is_a_422_naming_it(app: Harness) -> None:
    status, out = await preview(app, {"channels": {"sms": {"body": "{{ code }} for {{ name }}"}}, "data": {"code": 1}})
    assert status == 422
    assert fields(out) == ["data.name"]


async def test_a_draft_preview_needs_a_key_and_refuses_what_is_not_json(app: Harness) -> None:
    resp = await app.client.post("/v1/templates/preview", json=DRAFT)
    assert resp.status == 401
    resp = await app.call(
        "POST", "/v1/templates/preview", "member", data="{", headers={"Content-Type": "application/json"}
    )
    assert resp.status == 400


async def test_a_template_named_preview_is_still_read_written_and_previewed_by_its_key(app: Harness) -> None:
    body = {"key": "preview", "channels": {"sms": {"body": "Hi {{ name }}"}}}
    assert (await app.call("POST", "/v1/templates", "admin", body)).status == 201
    got = await app.call("GET", "/v1/templates/preview", "member")
    assert (got.status, (await got.json())["key"]) == (200, "preview")
    put = await app.call("PUT", "/v1/templates/preview", "admin", {"channels": {"sms": {"body": "Yo {{ name }}"}}})
    assert (await put.json())["active_version"] == 2
    saved = await app.call("POST", "/v1/templates/preview/preview", "member", {"data": {"name": "Ann"}})
    assert (await saved.json())["channels"]["sms"]["body"] == "Yo Ann"
