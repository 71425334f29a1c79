"""``server.access_log``: off by default; on, one line per request, and no secrets in it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import requests

from tests.process import WAIT_SECONDS, Server

SECRET_TOKEN = "eyJzZWNyZXQiOiJ0b2tlbiJ9.c2lnbmF0dXJl"


def access_lines(server: Server) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in server.logs().splitlines() if line.startswith("{")]
    return [line for line in lines if line["logger"] == "alertflow.access"]


def make_requests(server: Server) -> None:
    """Requests whose credentials travel in a header, a query string and a path."""
    assert server.request("GET", "/v1/notifications?limit=5").status_code == 200
    ws = requests.get(f"{server.url}/v1/inbox/ws?token={SECRET_TOKEN}&since=inb_1", timeout=WAIT_SECONDS)
    assert ws.status_code == 401
    unsubscribe = requests.get(f"{server.url}/v1/unsubscribe/{SECRET_TOKEN}", timeout=WAIT_SECONDS)
    assert unsubscribe.status_code == 403  # a forged link
    assert requests.get(f"{server.url}/healthz", timeout=WAIT_SECONDS).status_code == 200


def test_the_access_log_is_off_by_default(tmp_path: Path, servers: list[Server]) -> None:
    server = Server(tmp_path / "srv")
    servers.append(server.start())
    make_requests(server)
    server.stop()
    assert access_lines(server) == []
    assert "/healthz" not in server.logs()


def test_on_it_logs_one_line_per_request_without_keys_or_tokens(tmp_path: Path, servers: list[Server]) -> None:
    server = Server(tmp_path / "srv", "[server]\naccess_log = true\n")
    servers.append(server.start())
    make_requests(server)
    server.stop()
    # Start-up's own /readyz polls are logged too, the last maybe after start() returned.
    lines = [line for line in access_lines(server) if line["path"] != "/readyz"]
    assert [(line["method"], line["path"].split("?")[0], line["status"]) for line in lines] == [
        ("GET", "/v1/notifications", 200),
        ("GET", "/v1/inbox/ws", 401),
        ("GET", "/v1/unsubscribe/***", 403),
        ("GET", "/healthz", 200),
    ]
    assert lines[0]["path"] == "/v1/notifications?limit=5"
    assert lines[1]["path"] == "/v1/inbox/ws?token=***&since=inb_1", "the token is masked, other values kept"
    for line in lines:
        assert line["client"] == "127.0.0.1" and line["duration_ms"] >= 0
    log = server.logs()
    assert server.api_key not in log and server.api_key.split("_")[-1] not in log
    assert SECRET_TOKEN not in log
