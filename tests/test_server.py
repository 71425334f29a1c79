"""A real ``alertflow serve`` process: delivery, kill -9 and SIGTERM lose nothing acknowledged."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

from tests.conftest import Script
from tests.process import WAIT_SECONDS, Server, assert_delivers_through_outbox

PUBLISH = "/v1/notifications/publish"


def scripted_config(script: Script, concurrency: int = 4, shutdown: float = 10) -> str:
    p = script.provider()
    return (
        f"[server]\nshutdown_timeout_seconds = {shutdown}\n[workers]\nsms = {concurrency}\n"
        f"[providers.sms]\ntype = 'scripted'\nscript_file = '{p['script_file']}'\nlog_file = '{p['log_file']}'\n"
    )


def statuses(server: Server) -> dict[str, int]:
    conn = sqlite3.connect(server.workdir / "data" / "alertflow.db")
    try:
        return dict(conn.execute("SELECT status, COUNT(*) FROM deliveries GROUP BY status").fetchall())
    finally:
        conn.close()


def publish_sms(server: Server, count: int) -> list[str]:
    ids: list[str] = []
    for start in range(0, count, 100):
        body = {
            "to": [{"phone": f"+1555{i:07d}"} for i in range(start, min(count, start + 100))],
            "content": {"sms": {"body": "hello"}},
        }
        resp = server.request("POST", PUBLISH, body)
        assert resp.status_code == 202, resp.text
        ids += [n["id"] for n in resp.json()["notifications"]]
    return ids


def test_a_published_notification_reaches_sent_and_the_outbox(tmp_path: Path, servers: list[Server]) -> None:
    server = Server(tmp_path / "srv")
    servers.append(server.start())
    assert_delivers_through_outbox(server)


def test_serve_runs_on_uvloop_and_says_so(tmp_path: Path, servers: list[Server]) -> None:
    """uvloop is a dependency wherever it builds (not Windows): cli.new_event_loop says why."""
    server = Server(tmp_path / "srv")
    servers.append(server.start())
    assert_delivers_through_outbox(server)
    assert "on http://127.0.0.1:" in server.logs() and "(uvloop)" in server.logs()


def test_kill_9_with_300_in_flight_loses_none_of_them(tmp_path: Path, script: Script, servers: list[Server]) -> None:
    script.set(delay=0.05)
    server = Server(tmp_path / "srv", scripted_config(script))
    servers.append(server.start())
    publish_sms(server, 300)
    assert server.wait_for(lambda: len(script.sends()) >= 8)
    server.kill(signal.SIGKILL)
    before = statuses(server)
    assert sum(before.values()) == 300
    assert before.get("sent", 0) < 300, "nothing was in flight: the test proves nothing"

    recover(server, script, servers, 300)


def sigterm_with_two_sending(server: Server, count: int, again_after: float | None = None) -> dict[str, Any]:
    """Publish ``count`` to a pool of two, SIGTERM once two are being sent and up to two more
    wait in the pool's prefetch (all ``sending``: claimed), and once more ``again_after``
    seconds later, if given; returns the line the server logged last, on stopping."""
    publish_sms(server, count)
    assert server.wait_for(lambda: statuses(server).get("sending", 0) == min(count, 2 + 2))
    if again_after is not None:
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(again_after)
    assert server.kill(signal.SIGTERM) == 0
    lines = [json.loads(line) for line in server.logs().splitlines() if line.startswith("{")]
    assert [line["msg"] for line in lines].count("stopped") == 1
    assert lines[-1]["msg"] == "stopped", "the stop line is the last"
    assert any(line["msg"] == "stopping" and line["signal"] == "SIGTERM" for line in lines)
    return lines[-1]


def assert_the_sends_in_flight_finished(server: Server, count: int) -> None:
    after = statuses(server)
    assert after.get("sending", 0) == 0, "a send was cut off mid-flight"
    assert after.get("sent", 0) >= 2 and sum(after.values()) == count


def recover(server: Server, script: Script, servers: list[Server], count: int) -> None:
    """The provider recovers and the server restarts: every one of ``count`` ends sent."""
    script.set()
    servers.append(server.start())
    assert server.wait_for(lambda: statuses(server) == {"sent": count}), statuses(server)


def test_sigterm_lets_inflight_sends_finish_and_logs_that_it_drained_them(
    tmp_path: Path, script: Script, servers: list[Server]
) -> None:
    script.set(delay=0.5)
    server = Server(tmp_path / "srv", scripted_config(script, concurrency=2, shutdown=WAIT_SECONDS))
    servers.append(server.start())
    stopped = sigterm_with_two_sending(server, 10)
    assert (stopped["drained"], stopped["released"]) == (2, 2)  # the prefetched two go back unsent
    assert_the_sends_in_flight_finished(server, 10)
    recover(server, script, servers, 10)


def test_a_second_sigterm_while_stopping_changes_nothing(tmp_path: Path, script: Script, servers: list[Server]) -> None:
    """Ctrl-C twice, or `timeout` (it signals the process, then its group): the second signal
    used to break into the graceful stop, which then never closed a reader and never exited."""
    script.set(delay=0.5)
    server = Server(tmp_path / "srv", scripted_config(script, concurrency=2, shutdown=5))
    servers.append(server.start())
    stopped = sigterm_with_two_sending(server, 10, again_after=0.2)  # the stop waits for two 0.5 s sends
    assert (stopped["drained"], stopped["released"]) == (2, 2)
    assert "Traceback" not in server.logs()
    assert_the_sends_in_flight_finished(server, 10)
    recover(server, script, servers, 10)


def test_sigterm_returns_sends_that_outlast_the_timeout_to_the_queue(
    tmp_path: Path, script: Script, servers: list[Server]
) -> None:
    # Sends that would outlast the test's patience: the exit itself proves the stop gave up on them.
    script.set(delay=10 * WAIT_SECONDS)
    server = Server(tmp_path / "srv", scripted_config(script, concurrency=2, shutdown=0.5))
    servers.append(server.start())
    stopped = sigterm_with_two_sending(server, 3)
    assert (stopped["drained"], stopped["released"]) == (0, 3)  # two cut off, one prefetched
    assert statuses(server) == {"queued": 3}
    recover(server, script, servers, 3)
    conn = sqlite3.connect(server.workdir / "data" / "alertflow.db")
    attempts = conn.execute("SELECT MAX(attempts) FROM deliveries").fetchone()[0]
    assert attempts == 1, "an interrupted send must not count as an attempt"
