"""No request holds the event loop: heavy template and cron work runs in worker threads.

Each heavy step is held at a gate until the test has been served a /healthz. Held in a
worker thread, the gate holds only that request; held on the event loop, it would hold
every request, /healthz included, until the gate gave up — so these tests cannot pass
with the work on the loop, however fast or slow the machine is.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest
from aiohttp import ClientResponse

from alertflow.intake import scheduler
from alertflow.ops import metrics
from alertflow.templates import render, validation
from alertflow.templates.limits import MAX_TEMPLATE_NODES
from tests.conftest import WAIT_SECONDS, Harness

# 10,000 placeholders, 188 KB: 9.5 s of event loop before it was bounded and moved off it.
ATTACK = " ".join(f"Hello {{{{ v{i} }}}}," for i in range(10_000))
DEEP = "{% for i in range(1) %}" * 200 + "x" + "{% endfor %}" * 200
# Legal, yet ~900 nodes: tens of milliseconds to parse, analyse and compile.
HEAVY_BUT_LEGAL = " ".join(f"{{{{ v{i}|default('') }}}}" for i in range(220))


@dataclass
class Gate:
    """Holds every call of one function until released, recording the thread of each."""

    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def wrap(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def held(*args: Any, **kwargs: Any) -> Any:
            self.threads.append(threading.current_thread())
            self.entered.set()
            if not self.release.wait(WAIT_SECONDS):
                raise AssertionError("never released: the gate held the event loop itself")
            return original(*args, **kwargs)

        return held


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> Callable[[ModuleType, str], Gate]:
    def install(module: ModuleType, name: str) -> Gate:
        made = Gate()
        monkeypatch.setattr(module, name, made.wrap(getattr(module, name)))
        return made

    return install


async def served_meanwhile(app: Harness, held: Gate, method: str, path: str, body: Any) -> ClientResponse:
    """Send the heavy request; while its step is held, /healthz must still answer."""
    heavy = asyncio.create_task(app.call(method, path, "admin", body))
    assert await asyncio.to_thread(held.entered.wait, WAIT_SECONDS), "the heavy step was never reached"
    health = await app.client.get("/healthz")
    still_running = not heavy.done()
    held.release.set()
    response = await heavy
    assert health.status == 200 and still_running, "/healthz waited for the heavy request"
    assert threading.main_thread() not in held.threads, "the heavy step ran on the event loop's thread"
    return response


async def fields_of(resp: ClientResponse) -> dict[str, str]:
    assert resp.status == 422, await resp.text()
    return {e["field"]: e["message"] for e in (await resp.json())["errors"]}


def publish_body(text: str) -> dict[str, Any]:
    return {"to": {"email": "a@example.com"}, "content": {"email": {"subject": "s", "text": text}}}


@pytest.mark.parametrize(
    ("source", "limit"), [(ATTACK, f"more than {MAX_TEMPLATE_NODES} template nodes"), (DEEP, "nest more")]
)
async def test_a_hostile_inline_template_is_refused_without_holding_other_requests(
    app: Harness, gate: Callable[[ModuleType, str], Gate], source: str, limit: str
) -> None:
    held = gate(validation, "_check_sources")
    resp = await served_meanwhile(app, held, "POST", "/v1/notifications/publish", publish_body(source))
    assert limit in (await fields_of(resp))["content.email.text"]


async def test_a_templated_publish_compiles_in_a_worker_thread(
    app: Harness, gate: Callable[[ModuleType, str], Gate]
) -> None:
    held = gate(validation, "_check_sources")
    resp = await served_meanwhile(app, held, "POST", "/v1/notifications/publish", publish_body(HEAVY_BUT_LEGAL))
    assert resp.status == 202, await resp.text()


async def test_saving_a_template_compiles_in_a_worker_thread(
    app: Harness, gate: Callable[[ModuleType, str], Gate]
) -> None:
    held = gate(validation, "_check_sources")
    body = {"key": "big", "channels": {"email": {"subject": "s", "text": HEAVY_BUT_LEGAL}}}
    resp = await served_meanwhile(app, held, "POST", "/v1/templates", body)
    assert resp.status == 201, await resp.text()
    refused = await served_meanwhile(
        app, gate(validation, "_check_sources"), "PUT", "/v1/templates/big", {"channels": {"sms": {"body": DEEP}}}
    )
    assert "nest more" in (await fields_of(refused))["channels.sms.body"]


async def test_a_preview_renders_in_a_worker_thread(app: Harness, gate: Callable[[ModuleType, str], Gate]) -> None:
    body = {"key": "big", "channels": {"email": {"subject": "s", "text": HEAVY_BUT_LEGAL}}}
    assert (await app.call("POST", "/v1/templates", "admin", body)).status == 201
    held = gate(render, "render")
    resp = await served_meanwhile(app, held, "POST", "/v1/templates/big/preview", {"data": {}})
    assert resp.status == 200, await resp.text()


async def test_a_bulk_with_a_template_compiles_in_a_worker_thread(
    app: Harness, gate: Callable[[ModuleType, str], Gate]
) -> None:
    held = gate(validation, "_check_sources")
    body = {**publish_body(HEAVY_BUT_LEGAL), "to": [{"email": f"u{i}@example.com"} for i in range(3)]}
    resp = await served_meanwhile(app, held, "POST", "/v1/notifications/bulk", body)
    assert resp.status == 202, await resp.text()


async def test_a_schedule_finds_its_first_firing_in_a_worker_thread(
    app: Harness, gate: Callable[[ModuleType, str], Gate]
) -> None:
    schedule = {**publish_body("{{ x|default('') }}"), "name": "n", "cron": "0 9 * * 1"}
    created = await served_meanwhile(app, gate(scheduler, "next_fire"), "POST", "/v1/schedules", schedule)
    assert created.status == 201, await created.text()
    compiled = await served_meanwhile(
        app, gate(validation, "_check_sources"), "POST", "/v1/schedules", {**schedule, "name": "m"}
    )
    assert compiled.status == 201, await compiled.text()
    never = await served_meanwhile(
        app, gate(scheduler, "next_fire"), "POST", "/v1/schedules", {**schedule, "cron": "0 0 31 2 *"}
    )
    assert "never fires" in (await fields_of(never))["cron"]


def gauge(text: str, name: str) -> float:
    found = re.search(rf"^{name} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} is missing from /metrics"
    return float(found.group(1))


async def test_metrics_report_how_long_the_loop_was_held(app: Harness) -> None:
    lag = app.svc.metrics.loop_lag
    async with asyncio.timeout(WAIT_SECONDS):
        await lag.sampled.wait()  # the probe is asleep now, due in LAG_PROBE_SECONDS
    held_for = 0.3
    time.sleep(held_for)  # noqa: ASYNC251 -- holding the loop, as a compile on it would, is the point
    async with asyncio.timeout(WAIT_SECONDS):
        await lag.sampled.wait()
    text = await (await app.client.get("/metrics")).text()
    worst, p99 = (
        gauge(text, "alertflow_event_loop_lag_max_seconds"),
        gauge(text, "alertflow_event_loop_lag_p99_seconds"),
    )
    # The probe woke at least this late; a slower machine only makes it later.
    assert worst >= held_for - metrics.LAG_PROBE_SECONDS
    assert 0 <= p99 <= worst
