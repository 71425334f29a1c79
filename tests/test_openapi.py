"""/openapi.json documents every answer of every route; the edges it documents hold."""

from __future__ import annotations

from typing import Any

import pytest

from alertflow.api.examples import EXAMPLES, IMPORT_BODIES
from alertflow.api.middleware import MAX_HEADER_BYTES, MAX_HEADERS, MAX_URL_BYTES
from alertflow.api.resources import ROUTE_TABLES
from alertflow.errors import PROBLEM_CONTENT_TYPE
from alertflow.recipients import importing
from tests.conftest import Harness

BODIES = {
    ("post", "/v1/notifications/publish"): "PublishRequest",
    ("post", "/v1/notifications/bulk"): "BulkRequest",
    ("post", "/v1/schedules"): "ScheduleIn",
    ("post", "/v1/dlq/replay"): "ReplayFilter",
    ("post", "/v1/templates"): "TemplateIn",
    ("post", "/v1/templates/{key}/activate"): "ActivateIn",
    ("post", "/v1/templates/{key}/preview"): "PreviewIn",
}


async def spec_of(app: Harness) -> dict[str, Any]:
    return await (await app.client.get("/openapi.json")).json()  # type: ignore[no-any-return]


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in spec["paths"].items() for method, op in ops.items()]


async def test_every_operation_lists_its_success_and_each_problem_it_can_answer(app: Harness) -> None:
    spec = await spec_of(app)
    assert len(operations(spec)) > 50
    for method, path, op in operations(spec):
        statuses = op["responses"]
        assert "default" not in statuses, (method, path)
        assert any(s.startswith("2") or s == "101" for s in statuses), (method, path)
        for status, answer in statuses.items():
            if int(status) >= 400 and (method, path, status) != ("get", "/readyz", "503"):
                assert PROBLEM_CONTENT_TYPE in answer["content"], (method, path, status)
    publish = spec["paths"]["/v1/notifications/publish"]["post"]["responses"]
    assert {"202", "400", "401", "413", "415", "422", "429"} <= publish.keys()
    assert "201" in spec["paths"]["/v1/templates"]["post"]["responses"]
    assert "409" in spec["paths"]["/v1/templates"]["post"]["responses"]
    assert "204" in spec["paths"]["/v1/users/{user_id}"]["delete"]["responses"]


async def test_json_answers_document_the_shape_of_their_body(app: Harness) -> None:
    spec = await spec_of(app)
    without = [
        (method, path)
        for method, path, op in operations(spec)
        for status, answer in op["responses"].items()
        if status.startswith("2") and "schema" not in answer.get("content", {}).get("application/json", {"schema": 0})
    ]
    assert without == []
    published = spec["paths"]["/v1/notifications/publish"]["post"]["responses"]["202"]["content"]
    assert "notifications" in published["application/json"]["schema"]["properties"]
    page = spec["paths"]["/v1/dlq"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert page["required"] == ["items", "next_cursor"]


async def test_every_put_and_every_post_that_takes_json_documents_its_body(app: Harness) -> None:
    spec = await spec_of(app)
    expected = dict(BODIES)
    for method, path, _ in operations(spec):
        if method == "put":
            expected.setdefault((method, path), "")
    for (method, path), model in expected.items():
        body = spec["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        name = body.rsplit("/", 1)[1]
        assert name in spec["components"]["schemas"] and name.endswith(model), (method, path, name)
    bulk = spec["components"]["schemas"]["BulkRequest"]["properties"]
    assert {"to", "topic", "content", "template"} <= bulk.keys()
    assert {"cron", "timezone", "name"} <= spec["components"]["schemas"]["ScheduleIn"]["properties"].keys()


async def test_every_request_body_has_an_example_its_own_model_accepts(app: Harness) -> None:
    spec = await spec_of(app)
    without = [
        f"{method.upper()} {path} ({media})"
        for method, path, op in operations(spec)
        for media, content in op.get("requestBody", {}).get("content", {}).items()
        if not content.get("examples")
    ]
    assert not without, f"request bodies without an example (alertflow/api/examples.py): {without}"
    for route in (r for table in ROUTE_TABLES for r in table.routes if r.body is not None):
        route.body.model_validate(EXAMPLES[route.body.__name__])  # raises, naming the field, if stale


async def test_a_body_that_is_not_json_is_documented_as_text_of_each_media_type_its_route_takes(app: Harness) -> None:
    spec = await spec_of(app)
    imported = spec["paths"]["/v1/users/import"]["post"]
    content = imported["requestBody"]["content"]
    assert content.keys() == importing.MEDIA_TYPES.keys() == IMPORT_BODIES.keys()
    for media, documented in content.items():
        assert documented["schema"] == {"type": "string"}, media
        assert documented["examples"]["example"]["value"] == IMPORT_BODIES[media]
    assert {"413", "415", "422"} <= imported["responses"].keys()
    described = " ".join(answer["description"] for answer in imported["responses"].values())
    assert "malformed-json" not in described  # a CSV is not read as JSON


@pytest.mark.parametrize("media", sorted(IMPORT_BODIES))
async def test_each_documented_import_example_imports(app: Harness, media: str) -> None:
    body = IMPORT_BODIES[media].encode()
    resp = await app.client.post("/v1/users/import", data=body, headers=app.headers("admin", **{"Content-Type": media}))
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {"imported": 2, "errors": []}
    ann = await (await app.client.get("/v1/users/ann", headers=app.headers("member"))).json()
    assert (ann["email"], ann["timezone"], ann["data"]) == ("ann@example.com", "Europe/Vienna", {"plan": "pro"})


async def test_every_json_answer_and_every_problem_has_a_schema(app: Harness) -> None:
    spec = await spec_of(app)
    for method, path, op in operations(spec):
        for status, answer in op["responses"].items():
            for media, content in answer.get("content", {}).items():
                if media in ("application/json", PROBLEM_CONTENT_TYPE):
                    assert content.get("schema"), (method, path, status, media)


async def test_a_template_s_channels_are_typed_in_the_document(app: Harness) -> None:
    spec = await spec_of(app)
    channels = spec["components"]["schemas"]["TemplateIn"]["properties"]["channels"]
    target = spec["components"]["schemas"][channels["$ref"].rsplit("/", 1)[1]]
    assert {"email", "sms", "push", "inapp", "webhook"} <= target["properties"].keys()


async def test_query_parameters_are_documented_with_their_bounds(app: Harness) -> None:
    spec = await spec_of(app)
    listed = {p["name"]: p for p in spec["paths"]["/v1/notifications"]["get"]["parameters"]}
    assert {"status", "channel", "user_id", "category", "since", "until", "limit", "cursor"} <= listed.keys()
    assert listed["limit"]["schema"]["maximum"] == 500 and listed["limit"]["in"] == "query"
    assert "queued" in listed["status"]["schema"]["enum"]
    outbox = {p["name"]: p for p in spec["paths"]["/v1/outbox"]["get"]["parameters"]}
    assert outbox["cursor"]["schema"]["type"] == "integer"
    user = spec["paths"]["/v1/users/{user_id}"]["get"]["parameters"][0]
    assert user["schema"]["maxLength"] == 200 and "letters, digits" in user["schema"]["description"]


async def test_summaries_are_sentences(app: Harness) -> None:
    for method, path, op in operations(await spec_of(app)):
        summary = op["summary"]
        assert summary[0].isupper() and summary.endswith("."), (method, path, summary)
        assert "_" not in summary.split()[0], (method, path, summary)


async def problem_of(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.content_type == PROBLEM_CONTENT_TYPE
    return await resp.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "/v1/users/u1", {"PUT", "GET", "DELETE"}),
        ("DELETE", "/v1/notifications/publish", {"POST"}),
        ("POST", "/healthz", {"GET"}),
    ],
)
async def test_a_405_is_a_problem_that_lists_the_allowed_methods(
    app: Harness, method: str, path: str, allowed: set[str]
) -> None:
    resp = await app.call(method, path)
    body = await problem_of(resp, 405)
    assert body["type"] == "/docs#problem-method-not-allowed"
    assert set(resp.headers["Allow"].split(",")) >= allowed


@pytest.mark.parametrize("length", [MAX_URL_BYTES + 1, 9_000, 40_000])
async def test_an_overlong_url_is_a_414_problem_not_plain_text(app: Harness, length: int) -> None:
    path = "/v1/notifications?user_id="
    body = await problem_of(await app.call("GET", path + "x" * (length - len(path))), 414)
    assert str(MAX_URL_BYTES) in body["detail"]
    assert (await app.call("GET", "/v1/users/" + "u" * 8000)).status == 422, "just under: the id rule answers"


@pytest.mark.parametrize("length", [MAX_HEADER_BYTES + 1, 40_000])
async def test_an_overlong_header_is_a_431_problem_not_plain_text(app: Harness, length: int) -> None:
    for name in ("X-Padding", "Idempotency-Key", "Authorization"):
        value = "x" * length if name != "Authorization" else f"Bearer {'x' * length}"
        resp = await app.client.get("/v1/notifications", headers={**app.headers(), name: value})
        await problem_of(resp, 431)


async def test_too_many_headers_is_a_431_problem(app: Harness) -> None:
    many = {f"X-Header-{i}": "x" for i in range(MAX_HEADERS + 1)}
    body = await problem_of(await app.client.get("/v1/notifications", headers={**app.headers(), **many}), 431)
    assert str(MAX_HEADERS) in body["detail"]


BIG = 10**30
NAN, INF = float("nan"), float("inf")  # sent as JSON's NaN and Infinity, which pydantic reads


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        (
            "POST",
            "/v1/notifications/publish",
            {"to": {"user_id": "u1"}, "template": "t", "template_version": BIG},
            "template_version",
        ),
        (
            "POST",
            "/v1/notifications/publish",
            {"to": {"user_id": "u1"}, "template": "t", "template_version": 2**31},
            "template_version",
        ),
        (
            "POST",
            "/v1/notifications/bulk",
            {"to": [{"user_id": "u1"}], "template": "t", "template_version": BIG},
            "template_version",
        ),
        ("POST", "/v1/templates/t/activate", {"version": 300145731380950990848}, "version"),
        ("POST", "/v1/templates/t/activate", {"version": -1}, "version"),
        ("POST", "/v1/templates/t/preview", {"version": BIG}, "version"),
        ("GET", f"/v1/templates/t/versions/{BIG}", None, "version"),
        ("GET", "/v1/templates/t/versions/%C2%B2", None, "version"),  # "²": str.isdigit says yes, int() no
        ("GET", f"/v1/notifications?limit={BIG}", None, "limit"),
        ("GET", "/v1/dlq?limit=%C2%B2", None, "limit"),
        ("GET", f"/v1/outbox?cursor={BIG}", None, "cursor"),
        ("GET", "/v1/outbox?cursor=-5", None, "cursor"),
        ("GET", f"/v1/users/u1/inbox?limit={BIG}", None, "limit"),
        (
            "PUT",
            "/v1/channels/email",
            {"providers": [{"type": "outbox", "rate_per_second": 1e300}]},
            "providers.0.rate_per_second",
        ),
        ("GET", "/v1/notifications?since=0001-01-01T00:00:00%2B23:59", None, "since"),
        ("POST", "/v1/notifications/publish", {"to": {"user_id": "u1"}, "template": "t", "data": {"n": NAN}}, "data"),
        ("POST", "/v1/notifications/bulk", {"to": [{"user_id": "u1"}], "template": "t", "data": {"a": [INF]}}, "data"),
        ("POST", "/v1/templates/t/preview", {"data": {"n": -INF}}, "data"),
        ("PUT", "/v1/users/u2", {"data": {"score": NAN}}, "data"),
        ("GET", "/v1/analytics/deliveries?since=9999-12-30T00:00:00Z&until=9999-12-31T23:59:59-23:59", None, "until"),
        ("GET", "/v1/analytics/deliveries?since=0001-01-01T00:00:00%2B23:59&until=0001-01-02T00:00:00Z", None, "until"),
        (
            "POST",
            "/v1/notifications/publish",
            {"to": {"user_id": "u1"}, "template": "t", "send_at": "0001-01-01T00:00:00+23:59"},
            "send_at",
        ),
        (
            "POST",
            "/v1/notifications/publish",
            {"to": {"user_id": "u1"}, "template": "t", "send_at_local": "9999-12-31T23:59:59"},
            "send_at_local",
        ),
    ],
)
async def test_a_number_or_time_out_of_bounds_is_a_422_naming_it_and_writes_nothing(
    app: Harness, method: str, path: str, body: Any, field: str
) -> None:
    await app.call("PUT", "/v1/users/u1", body={"email": "a@example.com"})
    await app.call("POST", "/v1/templates", body={"key": "t", "channels": {"sms": {"body": "hi"}}})
    before = await app.rows("SELECT (SELECT COUNT(*) FROM notifications) + (SELECT COUNT(*) FROM batches) AS n")
    problem = await problem_of(await app.call(method, path, body=body), 422)
    assert [e["field"] for e in problem["errors"]] == [field]
    after = await app.rows("SELECT (SELECT COUNT(*) FROM notifications) + (SELECT COUNT(*) FROM batches) AS n")
    assert before[0]["n"] == after[0]["n"]
    active = await (await app.call("GET", "/v1/templates/t")).json()
    assert active["active_version"] == 1


@pytest.mark.parametrize("to", ["ann@example.com", 42, True, "u1"])
async def test_to_of_the_wrong_shape_says_what_it_accepts(app: Harness, to: Any) -> None:
    for path in ("/v1/notifications/publish", "/v1/notifications/bulk"):
        resp = await app.call("POST", path, body={"to": to, "content": {"sms": {"body": "hi"}}})
        [error] = (await problem_of(resp, 422))["errors"]
        assert error["field"] == "to"
        assert '{"user_id": "u1"}' in error["message"] and '{"email": "ann@example.com"' in error["message"]
        assert "a list of them" in error["message"]


async def test_the_document_explains_what_to_means_for_the_webhook_channel(app: Harness) -> None:
    spec = await spec_of(app)
    to = spec["components"]["schemas"]["PublishRequest"]["properties"]["to"]
    assert "webhook" in to["description"] and "user_id" in to["description"]
