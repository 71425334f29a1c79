"""A webhook body holding a number JSON cannot carry (NaN, an infinity) is refused when it is
published or saved in a template, naming the field, instead of failing at send time."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Harness

# JSON as a client may write it: the parser reads each of these as a float that is not finite.
NOT_FINITE = ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"]
RAW = "@raw@"
# Where in the body the number sits, and the path the error names for it.
PLACES: list[tuple[Any, str]] = [
    ({"disk": RAW}, "disk"),
    ({"a": [1, {"b": RAW}]}, "a.1.b"),
    ([0, RAW], "1"),
    (RAW, "the value"),
]


def with_raw(document: Any, raw: str) -> str:
    """``document`` as JSON text, ``raw`` written literally where it holds :data:`RAW`."""
    return json.dumps(document).replace(json.dumps(RAW), raw)


async def post_raw(app: Harness, path: str, text: str) -> Any:
    headers = app.headers("admin", **{"Content-Type": "application/json"})
    return await app.client.post(path, data=text.encode(), headers=headers)


def error_of(body: dict[str, Any]) -> tuple[str, str]:
    [error] = body["errors"]
    return error["field"], error["message"]


def publish(body: Any) -> dict[str, Any]:
    return {"to": {"user_id": "u1"}, "content": {"webhook": {"body": body}}}


@pytest.mark.parametrize("number", NOT_FINITE)
async def test_a_published_webhook_body_with_a_non_finite_number_is_refused_naming_the_spot(
    app: Harness, number: str
) -> None:
    for body, where in PLACES:
        resp = await post_raw(app, "/v1/notifications/publish", with_raw(publish(body), number))
        assert resp.status == 422, (body, await resp.text())
        assert error_of(await resp.json()) == ("content.webhook.body", f"{where} is not a finite number")
    assert await app.rows("SELECT * FROM notifications") == []


@pytest.mark.parametrize("number", NOT_FINITE)
async def test_a_template_webhook_body_with_a_non_finite_number_is_refused_naming_the_spot(
    app: Harness, number: str
) -> None:
    for body, where in PLACES:
        channels = {"webhook": {"body": body}}
        for template, field in (
            ({"key": "t1", "channels": channels}, "channels.webhook.body"),
            ({"key": "t1", "channels": {"sms": {"body": "x"}}, "locales": {"de": channels}}, "locales.de.webhook.body"),
        ):
            resp = await post_raw(app, "/v1/templates", with_raw(template, number))
            assert resp.status == 422, (template, await resp.text())
            assert error_of(await resp.json()) == (field, f"{where} is not a finite number")
    assert await app.rows("SELECT * FROM templates") == []


async def test_large_finite_numbers_in_a_webhook_body_are_fine(app: Harness) -> None:
    body = {"big": 1.7976931348623157e308, "small": -5e-324, "int": 123456789012345678901234567890}
    resp = await app.publish(publish(body))
    assert len(resp["notifications"]) == 1
    resp = await app.call("POST", "/v1/templates", "admin", {"key": "t1", "channels": {"webhook": {"body": body}}})
    assert resp.status == 201, await resp.text()
