"""One rule for every id a client chooses (naming.py), enforced wherever one comes in."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from alertflow import naming
from tests.conftest import EMAIL, Harness

# Each breaks the rule another way: too long, a NUL, a slash, a dot segment, a space,
# a leading separator, a letter outside ASCII, a newline (which Python's $ lets through).
BAD_IDS = ["u" * (naming.MAX_LENGTH + 1), "a\x00b", "a/b", "..", "ann smith", "-u1", "ünïcode", "u1\n", ""]
GOOD_IDS = [
    "u1",
    "auth0|5f7c8ec7c33c6c004bbafe82",
    "ann@example.com",
    "9b2f6c1e-1c2d-4b5a-9e0f-3a4b5c6d7e8f",
    "x" * 200,
]
TABLES = (
    "users",
    "notifications",
    "topic_subscribers",
    "templates",
    "categories",
    "batches",
    "schedules",
    "preferences",
)


async def counts(app: Harness) -> dict[str, int]:
    return {t: (await app.rows(f"SELECT COUNT(*) AS n FROM {t}"))[0]["n"] for t in TABLES}


async def refused(app: Harness, method: str, path: str, body: Any, field: str) -> None:
    resp = await app.call(method, path, body=body)
    assert resp.status == 422, (path, body, await resp.text())
    assert resp.content_type == "application/problem+json"
    fields = [e["field"] for e in (await resp.json())["errors"]]
    assert field in fields, fields


def in_path(bad: str) -> bool:
    """Whether a client can send ``bad`` in a path at all: "" and ".." never get there."""
    return bad not in ("", "..")


def entries(bad: str) -> list[tuple[str, str, Any, str]]:
    """Every way an id comes in: (method, path, body, the field the 422 names)."""
    path = quote(bad, safe="")
    content = {"content": EMAIL}
    through_path = [
        ("PUT", f"/v1/users/{path}", {"email": "a@example.com"}, "user_id"),
        ("PUT", f"/v1/topics/{path}/subscribers", {"user_ids": ["u1"]}, "key"),
        ("PUT", f"/v1/templates/{path}", {"channels": EMAIL}, "key"),
        ("PUT", f"/v1/categories/{path}", {"priority": "high"}, "key"),
    ]
    return (through_path if in_path(bad) else []) + [
        ("PUT", "/v1/users/u1", {"user_id": bad}, "user_id"),
        ("POST", "/v1/notifications/publish", {"to": {"user_id": bad}, **content}, "to.0.user_id"),
        (
            "POST",
            "/v1/notifications/publish",
            {"to": [{"email": "a@example.com"}, {"user_id": bad}], **content},
            "to.1.user_id",
        ),
        ("POST", "/v1/notifications/publish", {"topic": bad, **content}, "topic"),
        ("POST", "/v1/notifications/publish", {"to": {"user_id": "u1"}, "template": bad}, "template"),
        ("POST", "/v1/notifications/publish", {"to": {"user_id": "u1"}, "category": bad, **content}, "category"),
        ("POST", "/v1/notifications/bulk", {"to": [{"user_id": "u1"}, {"user_id": bad}], **content}, "to.1.user_id"),
        ("POST", "/v1/notifications/bulk", {"topic": bad, **content}, "topic"),
        ("PUT", "/v1/topics/news/subscribers", {"user_ids": ["u1", bad]}, "user_ids.1"),
        ("POST", "/v1/templates", {"key": bad, "channels": EMAIL}, "key"),
        ("PUT", "/v1/preferences/defaults", {"categories": {bad: {"enabled": False}}}, f"categories.{bad}"),
        (
            "POST",
            "/v1/schedules",
            {"name": "n", "cron": "0 9 * * *", "to": [{"user_id": bad}], **content},
            "to.0.user_id",
        ),
    ]


@pytest.mark.parametrize("bad", BAD_IDS, ids=repr)
async def test_every_entry_refuses_an_id_that_breaks_the_rule_and_keeps_nothing(app: Harness, bad: str) -> None:
    before = await counts(app)
    for method, path, body, field in entries(bad):
        await refused(app, method, path, body, field)
    assert await counts(app) == before


@pytest.mark.parametrize("bad", ["u" * 5000, "a\x00b", "a b"], ids=repr)
async def test_reads_and_deletes_refuse_the_same_ids_in_their_path(app: Harness, bad: str) -> None:
    path = quote(bad, safe="")
    for method, url, field in (
        ("GET", f"/v1/users/{path}", "user_id"),
        ("DELETE", f"/v1/users/{path}", "user_id"),
        ("GET", f"/v1/users/{path}/preferences", "user_id"),
        ("GET", f"/v1/templates/{path}", "key"),
        ("GET", f"/v1/topics/{path}/subscribers", "key"),
        ("DELETE", f"/v1/categories/{path}", "key"),
    ):
        await refused(app, method, url, None, field)


@pytest.mark.parametrize("good", GOOD_IDS)
async def test_an_id_the_rule_allows_is_addressable_everywhere(app: Harness, good: str) -> None:
    path = quote(good, safe="")
    assert (await app.call("PUT", f"/v1/users/{path}", body={"email": "a@example.com"})).status == 200
    assert (await (await app.call("GET", f"/v1/users/{path}")).json())["user_id"] == good
    assert (await app.call("PUT", f"/v1/topics/{path}/subscribers", body={"user_ids": [good]})).status == 200
    out = await app.publish({"topic": good, "content": EMAIL})
    assert out["notifications"][0]["recipient"] == {"user_id": good}


async def test_the_refusal_says_what_the_rule_is(app: Harness) -> None:
    resp = await app.call("PUT", "/v1/users/" + "u" * 300, body={})
    [error] = (await resp.json())["errors"]
    assert error == {"field": "user_id", "message": naming.RULE}
    assert "letters, digits" in naming.RULE and str(naming.MAX_LENGTH) in naming.RULE
