"""Operations: health, readiness, metrics, the API description, analytics and usage."""

from __future__ import annotations

import posixpath
import re

from tests.conftest import EMAIL, Harness, add_tenant


async def test_health_and_readiness_need_no_key(app: Harness) -> None:
    assert (await app.client.get("/healthz")).status == 200
    ready = await app.client.get("/readyz")
    assert ready.status == 200 and (await ready.json())["checks"] == {"database": "ok", "workers": "ok"}


async def test_metrics_count_outcomes_and_show_the_queue(app: Harness) -> None:
    nid = (await app.publish({"to": {"email": "a@example.com"}, "content": EMAIL}))["notifications"][0]["id"]
    await app.settled(nid)
    resp = await app.client.get("/metrics")
    text = await resp.text()
    assert resp.status == 200 and resp.content_type == "text/plain"
    assert 'alertflow_delivery_decisions_total{channel="email",status="sent"} 1' in text
    assert "# TYPE alertflow_queue_jobs gauge" in text and "alertflow_dead_letters 0" in text


async def test_the_openapi_document_lists_every_route_with_its_role_and_body(app: Harness) -> None:
    spec = await (await app.client.get("/openapi.json")).json()
    publish = spec["paths"]["/v1/notifications/publish"]["post"]
    assert publish["x-alertflow-role"] == "member"
    assert publish["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("PublishRequest")
    assert spec["paths"]["/v1/channels/{channel}"]["put"]["x-alertflow-role"] == "owner"
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    assert "PublishRequest" in spec["components"]["schemas"]


async def test_the_docs_page_explains_each_problem_type(app: Harness) -> None:
    resp = await app.client.get("/docs")
    page = await resp.text()
    assert resp.status == 200 and 'id="problem-validation"' in page and "/v1/notifications/publish" in page
    problem = await (await app.call("GET", "/v1/notifications?limit=0")).json()
    assert problem["type"] == "/docs#problem-validation"


async def test_analytics_count_deliveries_by_status_per_bucket(app: Harness) -> None:
    out = await app.publish({"to": [{"email": "a@example.com"}, {"phone": "+15550000001"}], "content": EMAIL})
    for n in out["notifications"]:
        await app.settled(n["id"])
    resp = await app.call("GET", "/v1/analytics/deliveries?interval=hour", "member")
    buckets = (await resp.json())["buckets"]
    assert len(buckets) == 24
    assert buckets[-1]["counts"] == {"sent": 1, "suppressed": 1}
    email_only = await (await app.call("GET", "/v1/analytics/deliveries?interval=hour&channel=email")).json()
    assert email_only["buckets"][-1]["total"] == 2, "both notifications had an email delivery"
    for query, field in (
        ("interval=minute", "interval"),
        ("since=yesterday", "since"),
        ("channel=fax", "channel"),
        ("interval=hour&since=2000-01-01T00:00:00Z", "since"),
    ):
        bad = await app.call("GET", f"/v1/analytics/deliveries?{query}")
        assert bad.status == 422 and (await bad.json())["errors"][0]["field"] == field


async def test_usage_counts_a_months_notifications_and_deliveries_per_tenant(app: Harness) -> None:
    nid = (await app.publish({"to": {"email": "a@example.com"}, "content": EMAIL}))["notifications"][0]["id"]
    await app.settled(nid)
    usage = await (await app.call("GET", "/v1/usage")).json()
    assert usage["notifications"] == 1 and usage["deliveries"]["email"] == {"total": 1, "sent": 1}
    _, other = await add_tenant(app.svc, "globex")
    theirs = await (await app.client.get("/v1/usage", headers={"Authorization": f"Bearer {other['member']}"})).json()
    assert theirs["notifications"] == 0
    assert (await app.call("GET", "/v1/usage?month=2026-13")).status == 422
    old = await (await app.call("GET", "/v1/usage?month=2001-01")).json()
    assert old == {"month": "2001-01", "notifications": 0, "deliveries": {}}


async def test_the_dashboard_page_and_its_assets_are_served_without_a_key(app: Harness) -> None:
    page = await app.client.get("/")
    assert page.status == 200 and page.content_type == "text/html"
    assert '<script type="module" src="/static/dashboard/app.js">' in await page.text()
    assert (await app.client.get("/static/dashboard.css")).status == 200
    # Browsers run a module only when it is served as JavaScript: every module the page
    # imports, followed from app.js, is there and typed so.
    pending, seen = ["/static/dashboard/app.js"], set()
    while pending:
        url = pending.pop()
        seen.add(url)
        module = await app.client.get(url)
        assert module.status == 200 and module.content_type in ("text/javascript", "application/javascript"), url
        for name in re.findall(r'^import .* from "(\.[^"]+)";$', await module.text(), re.MULTILINE):
            target = posixpath.normpath(posixpath.join(posixpath.dirname(url), name))
            if target not in seen:
                pending.append(target)
    assert "/static/dashboard/pages/index.js" in seen
    assert (await app.client.get("/static/../alertflow.toml")).status in (403, 404)


async def test_routes_that_authorise_themselves_say_how_in_the_docs(app: Harness) -> None:
    spec = await (await app.client.get("/openapi.json")).json()
    inbox = spec["paths"]["/v1/users/{user_id}/inbox"]["get"]
    assert "inbox token" in inbox["x-alertflow-role"] and "security" not in inbox
    assert "signature" in spec["paths"]["/v1/receipts/{type}/{delivery_id}"]["post"]["x-alertflow-role"]
