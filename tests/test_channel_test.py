"""``POST /v1/channels/{channel}/test``: one test message through each of the tenant's
providers now, each answered with its outcome; owners only; the outbound guard applies."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Harness, StartApp
from tests.fakes.dns import FakeDns
from tests.fakes.http import closed_port_url
from tests.fakes.smtp import FakeSmtpServer
from tests.test_channels import set_channel, smtp


async def send_test(app: Harness, channel: str, to: dict[str, Any], role: str = "owner") -> Any:
    return await app.call("POST", f"/v1/channels/{channel}/test", role, {"to": to})


async def results(resp: Any) -> list[dict[str, Any]]:
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    return body["results"]  # type: ignore[no-any-return]


def dead_smtp() -> dict[str, Any]:
    port = int(closed_port_url().rsplit(":", 1)[1])
    config = {"host": "127.0.0.1", "port": port, "security": "none", "from_address": "a@alertflow.test"}
    return {"type": "smtp", "config": {**config, "timeout_seconds": 5}}


async def test_a_test_email_goes_through_smtp_at_once(app: Harness, fake_smtp: FakeSmtpServer) -> None:
    assert (await set_channel(app, "email", smtp(fake_smtp))).status == 200
    [result] = await results(await send_test(app, "email", {"email": "ann@example.com"}))
    assert result["provider"] == "smtp" and result["ok"] is True and result["outcome"] == "sent"
    assert result["error"] is None and result["latency_ms"] >= 0 and result["circuit"] == "closed"
    [mail] = fake_smtp.messages
    assert mail.rcpt_tos == ["ann@example.com"] and mail.message["Subject"] == "AlertFlow test message"
    history = await (await app.call("GET", "/v1/notifications")).json()
    assert history["items"] == [], "a test is not a notification: nothing is queued or recorded"


async def test_each_provider_is_tried_and_a_dead_one_reports_its_error(app: Harness, fake_smtp: FakeSmtpServer) -> None:
    assert (await set_channel(app, "email", dead_smtp(), smtp(fake_smtp))).status == 200
    dead, alive = await results(await send_test(app, "email", {"email": "ann@example.com"}))
    assert dead["provider"] == "smtp" and dead["ok"] is False and dead["outcome"] == "retry"
    assert dead["error"] and "latency_ms" in dead
    assert alive["ok"] is True, "the fail-over is tested too"
    assert len(fake_smtp.messages) == 1


async def test_a_user_is_reached_through_their_record_and_a_missing_contact_names_the_field(app: Harness) -> None:
    assert (await app.call("PUT", "/v1/users/u1", "admin", {"phone": "+15550100"})).status == 200
    [sms] = await results(await send_test(app, "sms", {"user_id": "u1"}))
    assert sms["provider"] == "outbox" and sms["ok"] is True
    outbox = await (await app.call("GET", "/v1/outbox?channel=sms")).json()
    assert len(outbox["items"]) == 1, "the built-in outbox captured the test"
    lacking = await send_test(app, "email", {"user_id": "u1"})
    assert lacking.status == 422 and (await lacking.json())["errors"][0]["field"] == "to.email"
    unknown = await send_test(app, "sms", {"user_id": "nobody"})
    assert unknown.status == 422 and (await unknown.json())["errors"][0]["field"] == "to.user_id"
    empty = await send_test(app, "sms", {})
    assert empty.status == 422


async def test_a_channel_without_providers_is_a_conflict(app: Harness) -> None:
    resp = await send_test(app, "webhook", {"email": "ann@example.com"})
    assert resp.status == 409 and "no provider" in (await resp.json())["detail"]


@pytest.mark.parametrize("role", ["admin", "member"])
async def test_only_owners_may_send_a_test(app: Harness, role: str) -> None:
    assert (await send_test(app, "email", {"email": "ann@example.com"}, role)).status == 403


async def test_the_outbound_guard_refuses_a_name_now_pointing_inside(
    start_app: StartApp, fake_smtp: FakeSmtpServer
) -> None:
    dns = FakeDns()
    dns.records["mail.example"] = "93.184.216.34"
    app = await start_app(security={"allowed_private_networks": []}, resolve=dns)
    aimed = smtp(fake_smtp)
    aimed["config"]["host"] = "mail.example"
    assert (await set_channel(app, "email", aimed)).status == 200
    dns.records["mail.example"] = "127.0.0.1"  # re-pointed after it was set
    [result] = await results(await send_test(app, "email", {"email": "ann@example.com"}))
    assert result["ok"] is False and "127.0.0.1 is loopback" in result["error"]
    assert fake_smtp.messages == []
