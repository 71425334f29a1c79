"""A real ``alertflow serve`` process on a free port, for tests that need one."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

# How tests run alertflow from the source tree; tests/test_dist.py passes the frozen executable.
ALERTFLOW = (sys.executable, "-m", "alertflow")
# Ceilings for waiting on another process or on events: generous, because only a failing
# test waits this long, and a loaded machine (load average 5 on 2 cores) makes everything
# slower. How fast things happen is `alertflow bench`'s business, not the suite's.
WAIT_SECONDS = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    check: bool = True,
    command: Sequence[str] = ALERTFLOW,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*command, *args],
        check=False,  # the failure below says more than CalledProcessError
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"alertflow {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return result


def refused_in_one_line(*args: str, cwd: Path, says: str) -> None:
    """``alertflow args`` is refused as a usage error: exit 2, nothing on stdout, and one line
    on stderr that says ``says``."""
    refused = cli(*args, cwd=cwd, check=False)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and says in refused.stderr, refused.stderr


class Server:
    """``alertflow serve`` in a working directory of its own, with a config file there."""

    def __init__(self, workdir: Path, config: str = "", command: Sequence[str] = ALERTFLOW) -> None:
        self.workdir = workdir
        self.command = command
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "alertflow.toml").write_text(config)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        first_run = json.loads(cli("init", "--json", cwd=workdir, command=command).stdout)
        self.api_key = first_run["api_key"]
        self.operator_invite_url: str | None = first_run["operator_invite_url"]

    def start(self) -> Server:
        self.log = open(self.workdir / "serve.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*self.command, "serve", "--port", str(self.port)],
            cwd=self.workdir,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited {self.proc.returncode}: {self.logs()}")
            try:
                if requests.get(f"{self.url}/readyz", timeout=WAIT_SECONDS).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"serve did not become ready: {self.logs()}")

    def logs(self) -> str:
        return (self.workdir / "serve.log").read_text(errors="replace")

    def request(self, method: str, path: str, body: Any = None, **kw: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.api_key}", **kw.pop("headers", {})}
        return requests.request(method, self.url + path, json=body, headers=headers, timeout=WAIT_SECONDS, **kw)

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(timeout=WAIT_SECONDS)
        self.log.close()
        return code

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.kill(signal.SIGTERM)

    def wait_for(self, predicate: Any, timeout: float = WAIT_SECONDS) -> Any:
        """Poll the server (another process: polling is the only way to watch it)."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result or time.monotonic() > deadline:
                return result
            time.sleep(0.05)


def assert_delivers_through_outbox(server: Server) -> None:
    """Publish one email and see it reach ``sent`` and the outbox, the default provider."""
    resp = server.request(
        "POST",
        "/v1/notifications/publish",
        {
            "to": {"email": "ann@example.com"},
            "content": {"email": {"subject": "Hi", "text": "Hello"}},
        },
    )
    assert resp.status_code == 202, resp.text
    nid = resp.json()["notifications"][0]["id"]
    assert server.wait_for(lambda: server.request("GET", f"/v1/notifications/{nid}").json()["status"] == "sent")
    outbox = server.request("GET", "/v1/outbox").json()["items"]
    assert [(o["notification_id"], o["content"]["subject"]) for o in outbox] == [(nid, "Hi")]
