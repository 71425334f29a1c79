"""Lease recovery at start-up: a server takes back at once the leases it held itself before a
crash, and another node's only once they have expired."""

from __future__ import annotations

from pathlib import Path

from alertflow.app import node_id
from alertflow.storage import jobs as stored_jobs
from tests.conftest import EMAIL, FakeClock, Harness, Script, StartApp

START = 1_800_000_000.0


async def leased_by(app: Harness, clock: FakeClock, owner: str) -> str:
    """One email published and leased by ``owner`` while the pools stand still; its id."""
    assert app.svc.pools is not None
    await app.svc.pools.stop(1.0)
    [published] = (await app.publish({"to": {"email": "a@example.com"}, "content": EMAIL}))["notifications"]
    lease = app.svc.config.queue.lease_seconds
    [job] = await app.svc.database.write(lambda tx: stored_jobs.claim(tx, "email", 10, clock.t, lease, "", owner))
    assert job.notification_id == published["id"]
    return str(published["id"])


async def delivery_status(app: Harness, nid: str) -> str:
    [delivery] = (await app.notification(nid))["deliveries"]
    return str(delivery["status"])


def test_a_node_keeps_its_id_in_the_data_dir_and_another_data_dir_gets_its_own(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = node_id(tmp_path / "a")
    assert node_id(tmp_path / "a") == first
    assert (tmp_path / "a" / "node_id").read_text().strip() == first
    assert node_id(tmp_path / "b") != first


async def test_a_restarted_server_takes_back_its_own_leases_at_once(start_app: StartApp, script: Script) -> None:
    clock = FakeClock(START)
    app = await start_app(clock=clock, providers={"email": script.provider()})
    assert app.svc.pools is not None
    nid = await leased_by(app, clock, app.svc.pools.node_id)
    assert await delivery_status(app, nid) == "sending"

    app = await start_app(restart=app, clock=clock, providers={"email": script.provider()})
    await app.until(lambda: len(script.sends()) == 1)  # the clock never moved: no lease expired
    await app.until(lambda: len(app.decisions) == 1)  # and its outcome committed, not only sent
    assert await delivery_status(app, nid) == "sent"


async def test_a_lease_another_node_holds_is_taken_back_only_once_it_expires(
    start_app: StartApp, script: Script
) -> None:
    clock = FakeClock(START)
    app = await start_app(clock=clock, providers={"email": script.provider()})
    nid = await leased_by(app, clock, "another-node")

    app = await start_app(restart=app, clock=clock, providers={"email": script.provider()})
    # Start-up left it with its holder: neither returned to the queue nor claimed again here.
    assert [r["lease_owner"] for r in await app.rows("SELECT lease_owner FROM jobs")] == ["another-node"]
    assert await delivery_status(app, nid) == "sending"
    assert script.sends() == []

    clock.t += app.svc.config.queue.lease_seconds
    await app.until(lambda: len(script.sends()) == 1)
    await app.until(lambda: len(app.decisions) == 1)  # and its outcome committed, not only sent
    assert await delivery_status(app, nid) == "sent"
