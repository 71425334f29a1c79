"""A full disk is a clear answer (issue 13): a write that finds no space is a 507 and
stores nothing, /readyz is not ready while writes fail, the server finds the space again on
its own, and nothing acknowledged is lost, nor any job a worker held while it was full.

Portably the database is made full with SQLite's ``PRAGMA max_page_count``; where the test
runs as root it is also made full for real, on a small tmpfs."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alertflow.delivery import queue
from alertflow.storage import jobs as stored_jobs
from alertflow.storage.database import StorageFull
from tests.conftest import EMAIL, WAIT_SECONDS, FakeClock, Harness, Script, StartApp

PUBLISH = "/v1/notifications/publish"
# SQLite's own ceiling: as if the limit were never set.
NO_PAGE_LIMIT = 1_073_741_823
# A publish this big needs new pages however much slack the tables' pages have.
BIG = 300
# tmpfs sizes: room for the schema and a little more; then plenty.
SMALL_TMPFS, LARGE_TMPFS = "3m", "256m"
# Publishes of BIG recipients that fill SMALL_TMPFS several times over.
MAX_PUBLISHES_TO_FILL = 200


def recipients(n: int, prefix: str) -> dict[str, Any]:
    return {"to": [{"email": f"{prefix}{i}@example.com"} for i in range(n)], "content": EMAIL}


async def write_or_full(app: Harness, sql: str, params: tuple[Any, ...] = ()) -> bool:
    try:
        await app.svc.database.write(lambda conn: conn.execute(sql, params))
    except StorageFull:
        return False
    return True


async def fill_database(app: Harness) -> None:
    """The file may not grow (max_page_count), its free pages are used up, and the queue's
    attempts table has no room left in its last page: recording any outcome needs space."""
    await app.svc.database.write(
        lambda conn: conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0]}")
    )
    size = 1 << 20
    while size:
        if not await write_or_full(app, "INSERT INTO storage_probe (data) VALUES (zeroblob(?))", (size,)):
            size //= 4
    filler = "INSERT INTO attempts (delivery_id, at, outcome) VALUES ('filler', 0, 'filler')"
    while await write_or_full(app, filler):
        pass
    assert app.svc.database.full


async def free_space(app: Harness) -> None:
    await app.svc.database.write(lambda conn: conn.execute(f"PRAGMA max_page_count = {NO_PAGE_LIMIT}"))


async def readyz(app: Harness) -> tuple[int, dict[str, Any]]:
    resp = await app.client.get("/readyz")
    return resp.status, await resp.json()


async def assert_storage_full(resp: Any) -> None:
    assert resp.status == 507, await resp.text()
    assert resp.content_type == "application/problem+json"
    body = await resp.json()
    assert body["type"] == "/docs#problem-storage-full" and "disk is full" in body["detail"]
    assert int(resp.headers["Retry-After"]) > 0


async def count(app: Harness, table: str) -> int:
    return int((await app.rows(f"SELECT COUNT(*) AS n FROM {table}"))[0]["n"])


async def all_sent(app: Harness, ids: list[str]) -> None:
    for nid in ids:
        done = await app.settled(nid)
        assert [d["status"] for d in done["deliveries"]] == ["sent"], done


async def assert_intact(app: Harness) -> None:
    assert (await app.rows("PRAGMA integrity_check"))[0][0] == "ok"
    assert await count(app, "dead_letters") == 0


async def test_a_full_database_answers_507_is_not_ready_and_recovers_on_its_own(
    start_app: StartApp, script: Script
) -> None:
    app = await start_app(providers={"email": script.provider()})
    acked = [n["id"] for n in (await app.publish(recipients(20, "before")))["notifications"]]
    await fill_database(app)
    stored = await count(app, "notifications")

    await assert_storage_full(await app.call("POST", PUBLISH, body=recipients(BIG, "during")))
    assert await count(app, "notifications") == stored  # nothing of it stored
    status, body = await readyz(app)
    assert status == 503 and body["checks"]["database"].startswith("full: ")

    await free_space(app)
    await app.until(lambda: app.svc.database.full is None)  # the queue timer looks every second
    assert await readyz(app) == (200, {"status": "ok", "checks": {"database": "ok", "workers": "ok"}})
    await app.svc.database.write(lambda conn: conn.execute("DELETE FROM attempts WHERE delivery_id = 'filler'"))
    acked += [n["id"] for n in (await app.publish(recipients(BIG, "after")))["notifications"]]
    await all_sent(app, acked)
    await assert_intact(app)


async def test_readyz_is_ready_again_as_soon_as_space_returns(start_app: StartApp) -> None:
    app = await start_app()
    await fill_database(app)
    assert (await readyz(app))[0] == 503
    await free_space(app)
    assert (await readyz(app))[0] == 200
    assert app.svc.database.full is None


async def stepped_app(start_app: StartApp, script: Script) -> tuple[Harness, FakeClock]:
    """The queue driven by hand on a test clock: the pools are stopped."""
    clock = FakeClock(1_800_000_000.0)
    app = await start_app(clock=clock, providers={"email": script.provider()})
    assert app.svc.pools is not None
    await app.svc.pools.stop(1.0)
    return app, clock


async def claim_all(app: Harness, clock: FakeClock) -> list[queue.Job]:
    lease = app.svc.config.queue.lease_seconds
    return await app.svc.database.write(lambda conn: stored_jobs.claim(conn, "email", 100, clock.t, lease))


async def only_sent_once(app: Harness, ids: list[str]) -> None:
    for nid in ids:
        [delivery] = (await app.notification(nid))["deliveries"]
        assert delivery["status"] == "sent" and [a["outcome"] for a in delivery["attempts"]] == ["sent"]
    assert await count(app, "jobs") == 0
    await assert_intact(app)


async def test_an_outcome_the_full_disk_refused_is_recorded_once_space_returns_and_not_sent_twice(
    start_app: StartApp, script: Script
) -> None:
    app, clock = await stepped_app(start_app, script)
    assert app.svc.deliverer is not None
    ids = [n["id"] for n in (await app.publish(recipients(5, "held")))["notifications"]]
    jobs = await claim_all(app, clock)
    await fill_database(app)
    sends = [asyncio.create_task(app.svc.deliverer.deliver(job)) for job in jobs]
    await app.until(lambda: len(script.sends()) == 5)
    await app.until(lambda: app.svc.database.full is not None)
    assert not any(task.done() for task in sends)  # sent, waiting to be recorded
    held = await app.rows("SELECT state FROM jobs")
    assert [r["state"] for r in held] == [queue.LEASED] * 5

    await free_space(app)
    async with asyncio.timeout(WAIT_SECONDS):
        decisions = await asyncio.gather(*sends)
    assert {d.status for d in decisions} == {"sent"}
    assert len(script.sends()) == 5
    await app.svc.database.write(lambda conn: conn.execute("DELETE FROM attempts WHERE delivery_id = 'filler'"))
    await only_sent_once(app, ids)


async def test_a_job_held_past_its_lease_while_the_disk_is_full_returns_to_the_queue_intact(
    start_app: StartApp, script: Script
) -> None:
    app, clock = await stepped_app(start_app, script)
    deliverer, lease = app.svc.deliverer, app.svc.config.queue.lease_seconds
    assert deliverer is not None
    ids = [n["id"] for n in (await app.publish(recipients(5, "held")))["notifications"]]
    jobs = await claim_all(app, clock)
    await fill_database(app)
    sends = [asyncio.create_task(deliverer.deliver(job)) for job in jobs]
    await app.until(lambda: len(script.sends()) == 5)
    clock.t += lease  # the disk stays full past the lease: the workers give the jobs up
    for task in sends:
        with pytest.raises(StorageFull):
            await asyncio.wait_for(task, WAIT_SECONDS)
    assert [(r["state"], r["attempts"]) for r in await app.rows("SELECT state, attempts FROM jobs")] == [
        (queue.LEASED, 1)
    ] * 5

    await free_space(app)
    await app.svc.database.write(lambda conn: conn.execute("DELETE FROM attempts WHERE delivery_id = 'filler'"))
    assert await app.svc.database.write(lambda conn: stored_jobs.expire_leases(conn, clock.t)) == {"email"}
    again = await claim_all(app, clock)
    assert sorted(j.delivery_id for j in again) == sorted(j.delivery_id for j in jobs)
    assert {(await deliverer.deliver(job)).status for job in again} == {"sent"}
    await only_sent_once(app, ids)  # at least once: the provider saw each twice
    assert len(script.sends()) == 10


async def test_stopping_while_the_disk_is_full_loses_no_held_job(start_app: StartApp, script: Script) -> None:
    script.set(delay=WAIT_SECONDS)  # sends still out when the server stops
    app = await start_app(providers={"email": script.provider()}, server={"shutdown_timeout_seconds": 0})
    ids = [n["id"] for n in (await app.publish(recipients(3, "held")))["notifications"]]

    async def all_leased() -> bool:
        return await count(app, f"jobs WHERE state = {queue.LEASED}") == 3

    await app.until(all_leased)
    await fill_database(app)
    assert app.svc.pools is not None
    await app.svc.pools.stop(0)  # whether or not the leases can be given back, it stops
    assert await count(app, "jobs") == 3

    script.set()
    app = await start_app(restart=app, providers={"email": script.provider()})
    await all_sent(app, ids)
    await assert_intact(app)


# --- a real full disk: a small tmpfs (root only) ---------------------------------------------------


def _mount(path: Path, size: str, remount: bool = False) -> None:
    options = f"remount,size={size}" if remount else f"size={size}"
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], check=True, capture_output=True)


@pytest.fixture
def small_tmpfs() -> Iterator[Path]:
    """A tmpfs of SMALL_TMPFS; skipped, saying why, where it cannot be mounted."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        reason = "a real full disk needs root to mount a tmpfs; the max_page_count tests cover the rest"
        print(f"tmpfs test skipped: {reason}")
        pytest.skip(reason)
    path = Path(tempfile.mkdtemp(prefix="alertflow-full-"))
    try:
        _mount(path, SMALL_TMPFS)
    except (subprocess.CalledProcessError, OSError) as exc:
        path.rmdir()
        reason = f"cannot mount a tmpfs here: {getattr(exc, 'stderr', b'') or exc}"
        print(f"tmpfs test skipped: {reason}")
        pytest.skip(reason)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)
        path.rmdir()


async def test_a_full_tmpfs_answers_507_and_recovers_when_it_grows(
    small_tmpfs: Path, start_app: StartApp, script: Script
) -> None:
    app = await start_app(server={"data_dir": str(small_tmpfs / "data")}, providers={"email": script.provider()})
    acked: list[str] = []
    for n in range(MAX_PUBLISHES_TO_FILL):
        resp = await app.call("POST", PUBLISH, body=recipients(BIG, f"b{n}-"))
        if resp.status != 202:
            break
        acked += [item["id"] for item in (await resp.json())["notifications"]]
    else:
        raise AssertionError(f"{SMALL_TMPFS} did not fill up after {MAX_PUBLISHES_TO_FILL} publishes")
    await assert_storage_full(resp)
    assert acked, "the first publish should have fitted"
    status, body = await readyz(app)
    assert status == 503 and body["checks"]["database"].startswith("full: ")

    _mount(small_tmpfs, LARGE_TMPFS, remount=True)
    await app.until(lambda: app.svc.database.full is None)
    assert (await readyz(app))[0] == 200
    acked += [n["id"] for n in (await app.publish(recipients(BIG, "after")))["notifications"]]
    await all_sent(app, acked)
    await assert_intact(app)
