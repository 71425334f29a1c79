"""Fixtures shared by the suite: a real app on a real SQLite file, tenants and keys, and
the ``scripted`` provider (tests/testkit) whose behaviour a test sets while it runs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from alertflow import tenants
from alertflow.api.context import SERVICES, Services
from alertflow.app import create_app
from alertflow.clock import Clock
from alertflow.config import Config
from alertflow.delivery.queue import Decision, Job
from alertflow.providers.netguard import Resolve, system_resolve
from tests.process import WAIT_SECONDS, Server

# The local peers speaking each provider's wire format (SMTP, Twilio, FCM, Web Push, ...).
pytest_plugins = ["tests.fakes.fixtures", "tests.postgres"]


class Script:
    """The scripted provider's script and its log of sends."""

    def __init__(self, directory: Path) -> None:
        self.script_file = directory / "script.json"
        self.log_file = directory / "sends.jsonl"
        self.set()

    def set(self, **behaviour: Any) -> None:
        self.script_file.write_text(json.dumps(behaviour))

    def sends(self) -> list[dict[str, Any]]:
        if not self.log_file.exists():
            return []
        return [json.loads(line) for line in self.log_file.read_text().splitlines()]

    def provider(self) -> dict[str, Any]:
        return {
            "type": "scripted",
            "script_file": str(self.script_file),
            "log_file": str(self.log_file),
        }


@pytest.fixture
def script(tmp_path: Path) -> Script:
    return Script(tmp_path)


def make_config(tmp_path: Path, **sections: Any) -> Config:
    tree: dict[str, Any] = {
        "server": {"data_dir": str(tmp_path / "data"), "secret_key": "test-secret"},
        # The local fakes tenants' providers are pointed at listen on 127.0.0.1.
        "security": {"allowed_private_networks": ["127.0.0.0/8"]},
    }
    for name, values in sections.items():
        tree[name] = {**tree.get(name, {}), **values}
    return Config.model_validate(tree)


class FakeClock(Clock):
    """A clock a test moves by hand."""

    def __init__(self, now: float) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


@dataclass
class Harness:
    """A running app with a tenant and a key of each role."""

    client: TestClient
    svc: Services
    tenant_id: str
    keys: dict[str, str]
    decisions: list[tuple[Job, Decision]] = field(default_factory=list)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def headers(self, role: str = "owner", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}", **extra}

    async def call(self, method: str, path: str, role: str = "owner", body: Any = None, **kw: Any) -> Any:
        headers = self.headers(role, **kw.pop("headers", {}))
        resp = await self.client.request(method, path, json=body, headers=headers, **kw)
        return resp

    async def publish(self, body: dict[str, Any], role: str = "owner", **kw: Any) -> dict[str, Any]:
        resp = await self.call("POST", "/v1/notifications/publish", role, body, **kw)
        assert resp.status == 202, await resp.text()
        return await resp.json()  # type: ignore[no-any-return]

    async def notification(self, nid: str) -> dict[str, Any]:
        resp = await self.call("GET", f"/v1/notifications/{nid}")
        assert resp.status == 200, await resp.text()
        return await resp.json()  # type: ignore[no-any-return]

    def _record(self, job: Job, decision: Decision) -> None:
        self.decisions.append((job, decision))
        self._changed.set()

    async def until(self, predicate: Callable[[], bool | Awaitable[bool]], timeout: float = WAIT_SECONDS) -> None:
        """Wait, on delivery decisions, until ``predicate`` holds."""
        async with asyncio.timeout(timeout):
            while True:
                self._changed.clear()
                result = predicate()
                if isinstance(result, Awaitable):
                    result = await result
                if result:
                    return
                # Decisions wake us; the short timeout covers changes made by other paths.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.05)

    async def settled(
        self,
        nid: str,
        statuses: tuple[str, ...] = (
            "sent",
            "delivered",
            "failed",
            "dead",
            "suppressed",
            "cancelled",
        ),
    ) -> dict[str, Any]:
        """Wait until every delivery of a notification has reached one of ``statuses``."""
        found: dict[str, Any] = {}

        async def done() -> bool:
            found.update(await self.notification(nid))
            return all(d["status"] in statuses for d in found["deliveries"])

        await self.until(done)
        return found

    async def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return await self.svc.database.fetchall(sql, params)


async def add_tenant(svc: Services, name: str) -> tuple[str, dict[str, str]]:
    def create(conn: Any) -> tuple[str, dict[str, str]]:
        tenant_id, owner = tenants.create_tenant(conn, name)
        keys = {"owner": owner.api_key}
        for role in (tenants.Role.admin, tenants.Role.member):
            keys[role.name] = tenants.issue_key(conn, tenant_id, role).api_key
        return tenant_id, keys

    return await svc.database.write(create)


StartApp = Callable[..., Awaitable[Harness]]


# ALERTFLOW_TEST_BACKEND=postgresql runs the apps start_app makes on PostgreSQL (a database
# of their own on the session's throwaway server), e.g. to run chosen API tests there too.
TEST_BACKEND = os.environ.get("ALERTFLOW_TEST_BACKEND", "sqlite")


@pytest.fixture
async def start_app(aiohttp_client: Any, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[StartApp]:
    """``await start_app(queue={...}, workers={...}, providers={...})`` → a running Harness;
    ``restart=harness`` stops that one first and starts anew on its data dir, tenant and keys;
    ``resolve`` looks up outbound host names (a FakeDns re-points them)."""
    storage = {"url": request.getfixturevalue("postgres_url")} if TEST_BACKEND == "postgresql" else None

    async def start(
        clock: Clock | None = None, restart: Harness | None = None, resolve: Resolve = system_resolve, **sections: Any
    ) -> Harness:
        if restart is not None:
            await restart.client.close()
        if storage is not None:
            sections.setdefault("storage", storage)
        app = create_app(make_config(tmp_path, **sections), clock=clock, resolve=resolve)
        client = await aiohttp_client(app)
        svc = app[SERVICES]
        tenant_id, keys = (restart.tenant_id, restart.keys) if restart else await add_tenant(svc, "acme")
        harness = Harness(client, svc, tenant_id, keys)
        assert svc.deliverer is not None
        svc.deliverer.listeners.append(harness._record)
        return harness

    yield start


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    """Real ``alertflow serve`` processes a test appends here are stopped after it."""
    started: list[Server] = []
    yield started
    for s in started:
        s.stop()


@pytest.fixture
async def app(start_app: StartApp) -> Harness:
    return await start_app()


EMAIL = {"email": {"subject": "Disk alert", "text": "/var is 95% full"}}
SMS = {"sms": {"body": "CPU > 90%"}}


# --- a real browser: Debian's chromium driven by Playwright --------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()


def skip(reason: str) -> None:
    print(f"browser test skipped: {reason}")
    pytest.skip(reason)


class PatientBrowser:
    """The browser, whose pages wait as long as the rest of the suite does: Playwright's own
    ceilings (5 s for an expectation, 30 s for an action) fail on a loaded machine."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser

    async def new_page(self, **options: Any) -> Any:
        page = await self.browser.new_page(**options)
        page.set_default_timeout(WAIT_SECONDS * 1000)
        return page


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    try:
        from playwright.async_api import async_playwright, expect
    except ImportError:
        skip("playwright is not installed (pip install -e '.[test]')")
    if not HAVE_CHROMIUM:
        skip(f"{CHROMIUM} is missing (apt-get install chromium; `make test` installs it)")
    expect.set_options(timeout=WAIT_SECONDS * 1000)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--disable-gpu"])
        yield PatientBrowser(browser)
        await browser.close()
