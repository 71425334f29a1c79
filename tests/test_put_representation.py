"""Every PUT takes back what its GET shows: its own id (which must match the path) and the
read-only fields are accepted, so a client may read a resource, change a field and put it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from alertflow.providers.channel_setup import MASK
from tests.conftest import EMAIL, SMS, Harness


@dataclass(frozen=True)
class RoundTrip:
    put: str  # the PUT path
    get: str  # where GET shows what the PUT takes (before, and after the PUT)
    change: dict[str, Any]
    id_field: str | None  # the resource's own id, as GET shows it
    setup: tuple[tuple[str, str, Any], ...] = ()
    after: str | None = None  # where GET shows the result, when not ``get``
    # Fields GET shows that the PUT itself moves on (times, versions, flags of being customised).
    moves: tuple[str, ...] = ("created_at", "updated_at")


QUIET = {"start": "22:00", "end": "07:00"}
USER = ("PUT", "/v1/users/u1", {"email": "a@example.com", "data": {"plan": "pro"}})
ROUND_TRIPS = [
    RoundTrip("/v1/users/u1", "/v1/users/u1", {"phone": "+15550100"}, "user_id", (USER,)),
    RoundTrip(
        "/v1/templates/welcome",
        "/v1/templates/welcome/versions/1",
        {"name": "Welcome"},
        "key",
        (("POST", "/v1/templates", {"key": "welcome", "channels": EMAIL}),),
        after="/v1/templates/welcome/versions/2",
        moves=("created_at", "version"),
    ),
    RoundTrip(
        "/v1/categories/marketing", "/v1/categories/marketing", {"priority": "medium"}, "key", moves=("customised",)
    ),
    RoundTrip(
        "/v1/topics/news/subscribers",
        "/v1/topics/news/subscribers",
        {"user_ids": ["u1", "u2"]},
        "topic",
        (USER, ("PUT", "/v1/topics/news/subscribers", {"user_ids": ["u1"]})),
        moves=("count",),
    ),
    RoundTrip("/v1/channels/sms", "/v1/channels/sms", {}, "channel", moves=("source",)),
    RoundTrip("/v1/users/u1/preferences", "/v1/users/u1/preferences", {"channels": {"sms": False}}, None, (USER,)),
    RoundTrip(
        "/v1/preferences/defaults",
        "/v1/preferences/defaults",
        {"quiet_hours": {"start": "22:00", "end": "07:00"}},
        None,
    ),
]


async def ok(resp: Any) -> Any:
    assert resp.status in (200, 201), await resp.text()
    return await resp.json()


async def shown_after_setup(app: Harness, case: RoundTrip) -> dict[str, Any]:
    for method, path, body in case.setup:
        await ok(await app.call(method, path, body=body))
    return await ok(await app.call("GET", case.get))  # type: ignore[no-any-return]


@pytest.mark.parametrize("case", ROUND_TRIPS, ids=[c.put for c in ROUND_TRIPS])
async def test_what_get_shows_can_be_put_back_changed(app: Harness, case: RoundTrip) -> None:
    shown = await shown_after_setup(app, case)
    if case.id_field is not None:
        assert case.id_field in shown, "GET names the resource"
    await ok(await app.call("PUT", case.put, body={**shown, **case.change}))
    again = await ok(await app.call("GET", case.after or case.get))
    assert again == {**shown, **case.change, **{k: again[k] for k in case.moves if k in again}}


WITH_IDS = [c for c in ROUND_TRIPS if c.id_field]


@pytest.mark.parametrize("case", WITH_IDS, ids=[c.put for c in WITH_IDS])
async def test_a_put_whose_own_id_differs_from_the_path_is_a_422_naming_it(app: Harness, case: RoundTrip) -> None:
    shown = await shown_after_setup(app, case)
    assert case.id_field is not None
    other = "push" if case.id_field == "channel" else "someone-else"
    resp = await app.call("PUT", case.put, body={**shown, case.id_field: other})
    assert resp.status == 422, await resp.text()
    [error] = (await resp.json())["errors"]
    assert error["field"] == case.id_field and "as in the path" in error["message"]
    assert await ok(await app.call("GET", case.get)) == shown, "nothing changed"


async def test_a_template_version_read_back_makes_the_next_version_with_its_content(app: Harness) -> None:
    await ok(await app.call("POST", "/v1/templates", body={"key": "welcome", "channels": {**EMAIL, **SMS}}))
    first = await ok(await app.call("GET", "/v1/templates/welcome/versions/1"))
    await ok(await app.call("PUT", "/v1/templates/welcome", body=first))
    second = await ok(await app.call("GET", "/v1/templates/welcome/versions/2"))
    assert second["version"] == 2 and second["channels"] == first["channels"]
    summary = await ok(await app.call("GET", "/v1/templates/welcome"))
    assert summary["active_version"] == 2


async def test_unknown_fields_are_still_refused(app: Harness) -> None:
    resp = await app.call("PUT", "/v1/users/u1", body={"emial": "a@example.com"})
    assert resp.status == 422 and (await resp.json())["errors"][0]["field"] == "emial"


TWILIO_CONFIG = {"account_sid": "AC" + "0" * 32, "auth_token": "tok-real", "from_number": "+15017122661"}
TWILIO = {"type": "twilio", "config": TWILIO_CONFIG}


async def stored_auth_token(app: Harness) -> Any:
    [entry] = await app.svc.channels.tenant_entries(app.svc.database, app.tenant_id, "sms") or []
    return entry.settings.model_dump(mode="json")["auth_token"]


async def test_a_channel_read_back_with_its_secret_masked_keeps_the_secret(app: Harness) -> None:
    await ok(await app.call("PUT", "/v1/channels/sms", body={"providers": [TWILIO]}))
    shown = await ok(await app.call("GET", "/v1/channels/sms"))
    assert shown["providers"][0]["config"]["auth_token"] == MASK
    shown["providers"][0]["config"]["from_number"] = "+15017122662"
    await ok(await app.call("PUT", "/v1/channels/sms", body=shown))
    assert await stored_auth_token(app) == "tok-real", "the mask did not replace the secret"
    again = await ok(await app.call("GET", "/v1/channels/sms"))
    assert again["providers"][0]["config"]["from_number"] == "+15017122662"


async def test_a_mask_where_no_secret_is_kept_is_a_422_naming_the_setting(app: Harness) -> None:
    masked = {"type": "twilio", "config": {**TWILIO_CONFIG, "auth_token": MASK}}
    resp = await app.call("PUT", "/v1/channels/sms", body={"providers": [masked]})
    assert resp.status == 422, await resp.text()
    assert (await resp.json())["errors"][0]["field"] == "providers.0.config.auth_token"
    assert await app.svc.channels.tenant_entries(app.svc.database, app.tenant_id, "sms") is None
