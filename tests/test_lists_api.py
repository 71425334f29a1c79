"""The lists behind the dashboard's pages: topics with their subscriber counts, and batches
newest first with their progress, filtered by the status GET shows."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import EMAIL, SMS, Harness, Script, StartApp, add_tenant


async def listed(app: Harness, path: str, **query: str) -> dict[str, Any]:
    resp = await app.client.get(path, params=query, headers=app.headers("member"))
    assert resp.status == 200, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


async def every_page(app: Harness, path: str, **query: str) -> list[list[Any]]:
    pages, cursor = [], ""
    while True:
        page = await listed(app, path, **query, cursor=cursor)
        pages.append(page["items"])
        if page["next_cursor"] is None:
            return pages
        cursor = page["next_cursor"]


async def subscribe(app: Harness, topic: str, user_ids: list[str], role: str = "admin") -> None:
    resp = await app.call("PUT", f"/v1/topics/{topic}/subscribers", role, {"user_ids": user_ids})
    assert resp.status == 200, await resp.text()


async def test_topics_are_listed_in_order_with_their_subscriber_counts(app: Harness) -> None:
    await subscribe(app, "news", ["u1", "u2"])
    await subscribe(app, "alerts", ["u1"])
    await subscribe(app, "digest", ["u1", "u2", "u3"])
    await subscribe(app, "gone", ["u9"])
    assert (await app.call("DELETE", "/v1/topics/gone/subscribers", "admin")).status == 204
    found = await listed(app, "/v1/topics")
    assert found == {
        "items": [
            {"topic": "alerts", "count": 1},
            {"topic": "digest", "count": 3},
            {"topic": "news", "count": 2},
        ],
        "next_cursor": None,
    }
    pages = await every_page(app, "/v1/topics", limit="2")
    assert [[t["topic"] for t in page] for page in pages] == [["alerts", "digest"], ["news"]]


async def test_another_tenants_topics_are_not_listed_and_a_bad_cursor_names_its_field(app: Harness) -> None:
    _, keys = await add_tenant(app.svc, "globex")
    resp = await app.client.put(
        "/v1/topics/theirs/subscribers", json={"user_ids": ["x"]}, headers={"Authorization": f"Bearer {keys['admin']}"}
    )
    assert resp.status == 200
    assert (await listed(app, "/v1/topics")) == {"items": [], "next_cursor": None}
    bad = await app.client.get("/v1/topics", params={"cursor": "a/b"}, headers=app.headers("member"))
    assert bad.status == 422 and (await bad.json())["errors"][0]["field"] == "cursor"


async def bulk(app: Harness, body: dict[str, Any]) -> str:
    resp = await app.call("POST", "/v1/notifications/bulk", "member", body)
    assert resp.status == 202, await resp.text()
    return str((await resp.json())["batch_id"])


async def status_of(app: Harness, batch_id: str) -> str:
    resp = await app.call("GET", f"/v1/batches/{batch_id}", "member")
    return str((await resp.json())["status"])


@pytest.fixture
async def three_batches(start_app: StartApp, script: Script) -> tuple[Harness, dict[str, str]]:
    """A completed batch (sms), one still sending (email keeps failing, retried much later),
    and a cancelled one: oldest first."""
    script.set(fail="retry")
    app = await start_app(
        providers={"email": script.provider()},
        queue={"max_attempts": 50, "backoff_base_seconds": 600, "backoff_max_seconds": 600},
    )
    made = {"completed": await bulk(app, {"to": [{"phone": f"+1555010{i}"} for i in range(3)], "content": SMS})}
    made["sending"] = await bulk(
        app, {"to": [{"email": "a@example.com"}, {"email": "b@example.com"}], "content": EMAIL}
    )
    made["cancelled"] = await bulk(app, {"to": [{"email": "c@example.com"}], "content": EMAIL})
    assert (await app.call("POST", f"/v1/batches/{made['cancelled']}/cancel", "member")).status == 200

    async def settled() -> bool:
        return await status_of(app, made["sending"]) == "sending" and await status_of(app, made["completed"]) == (
            "completed"
        )

    await app.until(settled)
    return app, made


async def test_batches_are_listed_newest_first_with_their_progress(
    three_batches: tuple[Harness, dict[str, str]],
) -> None:
    app, made = three_batches
    found = await listed(app, "/v1/batches")
    assert [(b["batch_id"], b["status"]) for b in found["items"]] == [
        (made["cancelled"], "cancelled"),
        (made["sending"], "sending"),
        (made["completed"], "completed"),
    ]
    assert found["next_cursor"] is None
    assert found["items"][2]["counts"] == {"sent": 3} and found["items"][2]["recipients"] == 3
    pages = await every_page(app, "/v1/batches", limit="1")
    assert [b["batch_id"] for page in pages for b in page] == [made["cancelled"], made["sending"], made["completed"]]


@pytest.mark.parametrize("status", ["completed", "sending", "cancelled"])
async def test_batches_are_filtered_by_the_status_get_shows(
    three_batches: tuple[Harness, dict[str, str]], status: str
) -> None:
    app, made = three_batches
    for limit in ("1", "50"):
        pages = await every_page(app, "/v1/batches", status=status, limit=limit)
        assert [b["batch_id"] for page in pages for b in page] == [made[status]], limit
        assert all(b["status"] == status for page in pages for b in page)
    assert (await listed(app, "/v1/batches", status="failed")) == {"items": [], "next_cursor": None}


async def test_another_tenants_batches_are_not_listed_and_a_bad_status_names_its_field(app: Harness) -> None:
    _, keys = await add_tenant(app.svc, "globex")
    resp = await app.client.post(
        "/v1/notifications/bulk",
        json={"to": [{"email": "x@example.com"}], "content": EMAIL},
        headers={"Authorization": f"Bearer {keys['member']}"},
    )
    assert resp.status == 202
    assert (await listed(app, "/v1/batches")) == {"items": [], "next_cursor": None}
    bad = await app.client.get("/v1/batches", params={"status": "done"}, headers=app.headers("member"))
    assert bad.status == 422 and (await bad.json())["errors"][0]["field"] == "status"
