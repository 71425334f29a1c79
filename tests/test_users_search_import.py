"""Users searched and paged, and imported from NDJSON or CSV: up to 100,000 at once, checked
row by row with the single-user upsert's model, all or nothing, off the event loop, and on
PostgreSQL beside the single writer rather than in it."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest

from alertflow.recipients import importing
from alertflow.storage import users
from tests.conftest import EMAIL, WAIT_SECONDS, Harness, StartApp
from tests.test_loop_responsiveness import Gate

NDJSON = {"Content-Type": "application/x-ndjson"}
CSV = {"Content-Type": "text/csv"}


def ndjson(rows: list[dict[str, Any]]) -> bytes:
    return "\n".join(json.dumps(r) for r in rows).encode()


def as_csv(rows: list[dict[str, Any]], columns: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, columns)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode()


async def post_import(app: Harness, body: Any, headers: dict[str, str], role: str = "admin") -> Any:
    return await app.client.post("/v1/users/import", data=body, headers=app.headers(role, **headers))


async def stored_users(app: Harness) -> int:
    return int((await app.rows("SELECT COUNT(*) AS n FROM users"))[0]["n"])


async def report(resp: Any) -> dict[str, Any]:
    assert resp.status == 422, await resp.text()
    assert resp.content_type == "application/problem+json"
    body: dict[str, Any] = await resp.json()
    assert body["imported"] == 0
    return body


async def search(app: Harness, **query: str) -> dict[str, Any]:
    resp = await app.client.get("/v1/users", params=query, headers=app.headers("member"))
    assert resp.status == 200, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


# --- import ----------------------------------------------------------------------------------


async def test_an_import_of_100000_users_stores_every_one(app: Harness) -> None:
    rows = [{"user_id": f"u{i:06d}", "email": f"user{i}@example.com", "name": f"User {i}"} for i in range(100_000)]
    resp = await post_import(app, ndjson(rows), NDJSON)
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"imported": 100_000, "errors": []}
    assert await stored_users(app) == 100_000
    found = await search(app, q="user99999@")
    assert [u["user_id"] for u in found["items"]] == ["u099999"]
    assert found["items"][0]["name"] == "User 99999"


@pytest.mark.parametrize("kind", ["ndjson", "csv"])
async def test_one_bad_row_rejects_the_whole_import_with_a_row_numbered_report(app: Harness, kind: str) -> None:
    rows: list[dict[str, Any]] = [{"user_id": f"u{i}", "email": f"u{i}@example.com"} for i in range(5000)]
    rows[3456]["email"] = "not-an-email"
    if kind == "ndjson":
        body, headers, row = ndjson(rows), NDJSON, 3457  # the line
    else:
        body, headers, row = as_csv(rows, ["user_id", "email"]), CSV, 3458  # the header is row 1
    refused = await report(await post_import(app, body, headers))
    assert refused["errors"] == [
        {"row": row, "field": "email", "detail": "not an email address", "message": "not an email address"}
    ]
    assert refused["error_count"] == 1
    assert await stored_users(app) == 0, "nothing of a refused import is stored"


async def test_a_csv_import_reads_json_cells_and_replaces_existing_users(app: Harness) -> None:
    assert (await app.call("PUT", "/v1/users/ann", "admin", {"email": "old@example.com", "locale": "de"})).status == 200
    rows = [
        {"user_id": "ann", "email": "ann@example.com", "timezone": "Europe/Paris", "data": '{"plan": "pro"}'},
        {"user_id": "bob", "phone": "+15550100", "push_tokens": '["tok-1"]', "data": ""},
    ]
    resp = await post_import(
        app, b"\xef\xbb\xbf" + as_csv(rows, ["user_id", "email", "phone", "timezone", "push_tokens", "data"]), CSV
    )
    assert await resp.json() == {"imported": 2, "errors": []}
    ann = await (await app.call("GET", "/v1/users/ann")).json()
    assert (ann["email"], ann["timezone"], ann["data"], ann["locale"]) == (
        "ann@example.com",
        "Europe/Paris",
        {"plan": "pro"},
        None,
    ), "an import replaces a user as PUT does"
    bob = await (await app.call("GET", "/v1/users/bob")).json()
    assert bob["push_tokens"] == ["tok-1"] and bob["data"] == {}


async def test_every_bad_row_is_reported_with_its_field(app: Harness) -> None:
    lines = [
        json.dumps({"user_id": "ok1"}),
        "",  # blank lines are skipped, still counted
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"email": "x@example.com"}),
        json.dumps({"user_id": "has space"}),
        json.dumps({"user_id": "ok1"}),
        json.dumps({"user_id": "u7", "timezone": "Mars/Olympus", "colour": "red"}),
        json.dumps({"user_id": "u8", "data": {"n": 1}, "created_at": "ignored"}),
    ]
    refused = await report(await post_import(app, "\n".join(lines).encode(), NDJSON))
    found = [(e["row"], e["field"]) for e in refused["errors"]]
    assert found == [
        (3, "body"),
        (4, "body"),
        (5, "user_id"),
        (6, "user_id"),
        (7, "user_id"),
        (8, "timezone"),
        (8, "colour"),
    ]
    assert "on row 1 already" in refused["errors"][4]["detail"]
    assert await stored_users(app) == 0


async def test_a_long_report_lists_the_first_hundred_errors_and_counts_them_all(app: Harness) -> None:
    rows = [{"user_id": f"u{i}", "phone": "555"} for i in range(1000)]
    refused = await report(await post_import(app, ndjson(rows), NDJSON))
    assert len(refused["errors"]) == 100 and refused["error_count"] == 1000
    assert refused["errors"][0]["row"] == 1 and refused["errors"][0]["field"] == "phone"


@pytest.mark.parametrize(
    ("header", "field"),
    [("user_id,colour\n", "colour"), ("email,name\n", "user_id"), ("User_ID,email\n", "User_ID")],
)
async def test_a_csv_header_must_name_user_id_and_known_columns(app: Harness, header: str, field: str) -> None:
    refused = await report(await post_import(app, (header + "u1,x\n").encode(), CSV))
    assert [(e["row"], e["field"]) for e in refused["errors"]] == [(1, field)]


async def test_csv_records_with_the_wrong_number_of_cells_or_broken_quotes_are_refused(app: Harness) -> None:
    refused = await report(await post_import(app, b"user_id,email\nu1\nu2,a@example.com\n", CSV))
    assert [(e["row"], e["field"]) for e in refused["errors"]] == [(2, "body")]
    broken = await report(await post_import(app, b'user_id,name\nu1,"unterminated\n', CSV))
    assert broken["errors"][0]["field"] == "body"


async def test_bytes_that_are_not_utf8_are_refused_naming_their_row(app: Harness) -> None:
    body = ndjson([{"user_id": "u1"}]) + b"\n" + '{"user_id": "u2", "name": "Zoë"}'.encode("latin-1")
    refused = await report(await post_import(app, body, NDJSON))
    assert [(e["row"], e["field"]) for e in refused["errors"]] == [(2, "body")]
    assert "not UTF-8" in refused["errors"][0]["detail"]


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", ""])
async def test_a_wrong_content_type_is_a_415_naming_the_header(app: Harness, content_type: str) -> None:
    resp = await post_import(app, b'{"user_id": "u1"}', {"Content-Type": content_type})
    assert resp.status == 415
    assert (await resp.json())["errors"][0]["field"] == "Content-Type"


async def test_a_body_over_the_bulk_limit_is_refused_before_or_while_it_is_read(start_app: StartApp) -> None:
    app = await start_app(server={"max_bulk_body_mb": 1})
    line = json.dumps({"user_id": "u" * 100}).encode() + b"\n"
    huge = line * (2 * 1024 * 1024 // len(line))
    refused = await post_import(app, huge, NDJSON)
    assert refused.status == 413 and refused.content_type == "application/problem+json"
    assert (await refused.json())["errors"][0]["field"] == "body"

    async def streamed() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(40):
            yield line * 1000

    assert (await post_import(app, streamed(), NDJSON)).status == 413
    assert await stored_users(app) == 0


async def test_more_than_100000_rows_or_none_are_refused(app: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importing, "MAX_ROWS", 10)  # the bound, not the size, is under test
    refused = await report(await post_import(app, ndjson([{"user_id": f"u{i}"} for i in range(11)]), NDJSON))
    assert refused["errors"][0]["row"] == 11 and "more than 10 rows" in refused["errors"][0]["detail"]
    empty = await report(await post_import(app, b"\n\n", NDJSON))
    assert empty["errors"][0]["detail"] == "no rows"


async def test_a_web_push_endpoint_inside_is_refused_as_put_refuses_it(start_app: StartApp) -> None:
    app = await start_app(security={"allowed_private_networks": []})
    row = {"user_id": "u1", "webpush": [{"endpoint": "https://127.0.0.1/push", "keys": {"p256dh": "k", "auth": "a"}}]}
    refused = await report(await post_import(app, ndjson([{"user_id": "u0"}, row]), NDJSON))
    assert [(e["row"], e["field"]) for e in refused["errors"]] == [(2, "webpush.0.endpoint")]


async def test_members_may_not_import(app: Harness) -> None:
    assert (await post_import(app, ndjson([{"user_id": "u1"}]), NDJSON, role="member")).status == 403


async def test_an_import_checks_its_rows_in_a_worker_thread(app: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    held = Gate()
    monkeypatch.setattr(importing, "check", held.wrap(importing.check))
    heavy = asyncio.create_task(post_import(app, ndjson([{"user_id": "u1"}]), NDJSON))
    assert await asyncio.to_thread(held.entered.wait, WAIT_SECONDS), "the rows were never checked"
    health = await app.client.get("/healthz")
    still_running = not heavy.done()
    held.release.set()
    assert (await heavy).status == 200
    assert health.status == 200 and still_running, "/healthz waited for the import"
    assert threading.main_thread() not in held.threads


async def test_on_postgresql_publishes_commit_while_an_import_is_being_written(
    start_app: StartApp, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = await start_app(storage={"url": postgres_url})
    held = Gate()  # holds the import's transaction open, before its rows are written
    monkeypatch.setattr(users, "put_many", held.wrap(users.put_many))
    rows = [{"user_id": f"u{i}", "email": f"u{i}@example.com"} for i in range(1000)]
    pending = asyncio.create_task(post_import(app, ndjson(rows), NDJSON))
    try:
        assert await asyncio.to_thread(held.entered.wait, WAIT_SECONDS), "the rows were never written"
        await app.publish({"to": {"email": "ann@example.com"}, "content": EMAIL})  # committed meanwhile
        assert not pending.done() and await stored_users(app) == 0
    finally:
        held.release.set()
    assert (await pending).status == 200
    assert await stored_users(app) == 1000
    assert [t.name for t in held.threads] != ["alertflow-writer"]


# --- search ----------------------------------------------------------------------------------


async def test_search_matches_id_email_phone_and_name_in_any_case(app: Harness) -> None:
    rows = [
        {"user_id": "auth0|ann", "email": "Ann.Lee@Example.com", "name": "Ann Lee"},
        {"user_id": "bob", "phone": "+15550100", "name": "Bob Stone"},
        {"user_id": "carl", "email": "carl@example.org", "name": "Carl 100%"},
    ]
    assert (await post_import(app, ndjson(rows), NDJSON)).status == 200
    assert [u["user_id"] for u in (await search(app, q="lee"))["items"]] == ["auth0|ann"]
    assert [u["user_id"] for u in (await search(app, q="EXAMPLE"))["items"]] == ["auth0|ann", "carl"]
    assert [u["user_id"] for u in (await search(app, q="0100"))["items"]] == ["bob"]
    assert [u["user_id"] for u in (await search(app, q="AUTH0|"))["items"]] == ["auth0|ann"]
    assert [u["user_id"] for u in (await search(app, q="0%"))["items"]] == ["carl"], "% is literal"
    assert (await search(app, q="nobody")) == {"items": [], "next_cursor": None}
    everyone = await search(app)
    assert [u["user_id"] for u in everyone["items"]] == ["auth0|ann", "bob", "carl"]
    assert set(everyone["items"][0]) >= {"user_id", "email", "phone", "name", "data", "created_at"}


async def test_search_pages_are_stable_while_users_come_and_go(app: Harness) -> None:
    rows = [{"user_id": f"u{i:03d}", "name": "Team member" if i % 3 else "Guest"} for i in range(100)]
    assert (await post_import(app, ndjson(rows), NDJSON)).status == 200
    seen: list[str] = []
    cursor: str | None = ""
    while cursor is not None:
        page = await search(app, q="team", limit="7", cursor=cursor)
        assert len(page["items"]) <= 7
        seen += [u["user_id"] for u in page["items"]]
        cursor = page["next_cursor"]
        if len(seen) == 14:  # a user before the cursor arrives and one after it goes
            assert (await app.call("PUT", "/v1/users/u000a", "admin", {"name": "Team lead"})).status == 200
            assert (await app.call("DELETE", "/v1/users/u050", "admin")).status == 204
    expected = [r["user_id"] for r in rows if r["name"] == "Team member" and r["user_id"] != "u050"]
    assert seen == expected, "every page continues where the last ended: none missed, none twice"


@pytest.mark.parametrize(
    ("query", "field"), [({"q": "x" * 201}, "q"), ({"limit": "0"}, "limit"), ({"cursor": "c" * 201}, "cursor")]
)
async def test_a_bad_search_parameter_names_its_field(app: Harness, query: dict[str, str], field: str) -> None:
    resp = await app.client.get("/v1/users", params=query, headers=app.headers("member"))
    assert resp.status == 422
    assert (await resp.json())["errors"][0]["field"] == field
