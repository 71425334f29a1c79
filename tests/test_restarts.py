"""Scheduled sends and bulk fan-out in a real ``alertflow serve`` that is killed with -9."""

from __future__ import annotations

import signal
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import Script
from tests.process import Server
from tests.test_server import scripted_config

PUBLISH = "/v1/notifications/publish"


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def test_send_at_survives_a_kill_9_and_is_sent_once_after_its_time_not_before(
    tmp_path: Path, script: Script, servers: list[Server]
) -> None:
    server = Server(tmp_path / "srv", scripted_config(script))
    servers.append(server.start())
    send_at = time.time() + 2
    resp = server.request(
        "POST",
        PUBLISH,
        {"to": {"phone": "+15550000001"}, "content": {"sms": {"body": "hi"}}, "send_at": rfc3339(send_at)},
    )
    assert resp.status_code == 202 and resp.json()["notifications"][0]["status"] == "scheduled"
    nid = resp.json()["notifications"][0]["id"]
    listed = server.request("GET", "/v1/notifications?status=scheduled").json()["items"]
    assert [n["id"] for n in listed] == [nid]

    server.kill(signal.SIGKILL)
    servers.append(server.start())
    assert server.wait_for(lambda: script.sends())
    [send] = script.sends()
    assert send["notification_id"] == nid
    assert send["at"] >= send_at, "sent before its time"
    assert server.wait_for(lambda: server.request("GET", f"/v1/notifications/{nid}").json()["status"] == "sent")
    server.kill(signal.SIGTERM)
    assert len(script.sends()) == 1, "sent twice"


def test_a_bulk_killed_mid_fan_out_resumes_with_every_recipient_exactly_once(
    tmp_path: Path, servers: list[Server]
) -> None:
    server = Server(tmp_path / "srv")
    servers.append(server.start())
    total = 20_000
    body = {"to": [{"phone": f"+1555{i:07d}"} for i in range(total)], "content": {"sms": {"body": "sale"}}}
    resp = server.request("POST", "/v1/notifications/bulk", body)
    assert resp.status_code == 202, resp.text
    batch_id = resp.json()["batch_id"]
    assert server.wait_for(lambda: server.request("GET", f"/v1/batches/{batch_id}").json()["fanned_out"] > 0)
    server.kill(signal.SIGKILL)
    conn = sqlite3.connect(server.workdir / "data" / "alertflow.db")
    before = conn.execute("SELECT COUNT(*) FROM notifications WHERE batch_id = ?", (batch_id,)).fetchone()[0]
    assert 0 < before < total, "the kill did not land mid fan-out: the test proves nothing"

    servers.append(server.start())
    assert server.wait_for(lambda: server.request("GET", f"/v1/batches/{batch_id}").json()["status"] != "fanning_out")
    counted = conn.execute(
        "SELECT COUNT(*), COUNT(DISTINCT recipient) FROM notifications WHERE batch_id = ?", (batch_id,)
    ).fetchone()
    assert counted == (total, total)
    conn.close()
