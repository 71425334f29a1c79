"""Three real ``alertflow serve`` processes on one PostgreSQL, under load and faults.

Publishes are spread over the three nodes, each with an Idempotency-Key; one node is killed
with SIGKILL mid-load and PostgreSQL is restarted mid-load. A publish that gets no answer or a
503 is sent again, with the same key, to another node, as a client behind a balancer would.
Then: every acknowledged notification is delivered (the killed node's leased jobs by the
others once the leases expire), each key made one notification, and a per-minute cron
schedule fired once per period across the three. Delivery is at least once: a send the killed
node had under way may go out twice, and the test counts and reports such duplicates rather
than pretending there are none. An inbox WebSocket held on one node receives what another
node delivers, before the faults and after PostgreSQL's restart. Work is bounded by counts;
ceilings are generous; nothing asserts on wall-clock time.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import requests

from tests.postgres import PostgresServer
from tests.process import WAIT_SECONDS, Server, cli

NOTIFICATIONS = 300
KILL_AFTER = 100  # acknowledged publishes before a node is killed
RESTART_AFTER = 200  # ... and before PostgreSQL restarts
PUBLISHERS = 6
# Sends one node has under way at once: [workers] email, the default.
EMAIL_WORKERS = 16
# Short leases, so the killed node's jobs come back soon (the default is a minute).
CONFIG = """
[server]
secret_key = "cluster-test-secret"
[storage]
url = "{url}"
[queue]
lease_seconds = 3
backoff_base_seconds = 0.2
backoff_max_seconds = 1
"""


def start_nodes(tmp_path: Path, url: str, servers: list[Server], count: int) -> list[Server]:
    nodes: list[Server] = []
    for i in range(count):  # one after another: the first initialises the shared database
        node = Server(tmp_path / f"node{i}", CONFIG.format(url=url))
        servers.append(node.start())
        nodes.append(node)
    for node in nodes[1:]:
        node.api_key = nodes[0].api_key  # one tenant, one key, any node
    return nodes


@dataclass
class Load:
    """Publishes under way: what was acknowledged, and what the nodes answered meanwhile."""

    nodes: list[Server]
    alive: list[Server]
    acknowledged: dict[str, str] = field(default_factory=dict)  # key -> notification id
    unavailable: int = 0  # 503s
    unanswered: int = 0  # connection refused or cut
    lock: threading.Lock = field(default_factory=threading.Lock)
    progress: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.progress = threading.Condition(self.lock)

    def publish(self, n: int) -> None:
        key = f"load-{n}"
        body = {"to": {"email": f"user{n}@example.com"}, "content": {"email": {"subject": f"#{n}", "text": "-"}}}
        deadline = time.monotonic() + WAIT_SECONDS
        for attempt in itertools.count(n):
            assert time.monotonic() < deadline, f"{key} was never acknowledged"
            with self.lock:
                node = self.alive[attempt % len(self.alive)]
            try:
                resp = node.request("POST", "/v1/notifications/publish", body, headers={"Idempotency-Key": key})
            except requests.ConnectionError:
                with self.lock:
                    self.unanswered += 1
                continue
            if resp.status_code == 503:
                with self.lock:
                    self.unavailable += 1
                time.sleep(0.05)
                continue
            assert resp.status_code == 202, resp.text
            with self.progress:
                self.acknowledged[key] = resp.json()["notifications"][0]["id"]
                self.progress.notify_all()
            return

    def wait_for(self, count: int) -> None:
        with self.progress:
            assert self.progress.wait_for(lambda: len(self.acknowledged) >= count, WAIT_SECONDS)


class ReadinessWatch:
    """Polls a node's /readyz in a thread, keeping each change of its answer."""

    def __init__(self, node: Server) -> None:
        self.node = node
        self.seen: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status = requests.get(f"{self.node.url}/readyz", timeout=WAIT_SECONDS).status_code
            except requests.ConnectionError:
                status = 0
            if not self.seen or self.seen[-1] != status:
                self.seen.append(status)
            time.sleep(0.02)

    def first(self) -> int:
        deadline = time.monotonic() + WAIT_SECONDS
        while not self.seen and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.seen[0]

    def stop(self) -> list[int]:
        self._stop.set()
        self._thread.join(WAIT_SECONDS)
        return self.seen


class InboxSocket:
    """A user's inbox WebSocket held open on one node (in a thread with a loop of its own, as a
    browser beside the test would), keeping the titles of the notifications it is pushed."""

    def __init__(self, node: Server, user_id: str) -> None:
        token = node.request("POST", f"/v1/users/{user_id}/inbox-token")
        assert token.status_code == 200, token.text
        self.titles: list[str] = []
        self.changed = threading.Condition()
        self.connected = threading.Event()
        self.closing: asyncio.Event | None = None
        self.loop = asyncio.new_event_loop()
        listen = self.listen(f"{node.url}/v1/inbox/ws", token.json()["token"])
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(listen,), daemon=True)
        self.thread.start()
        assert self.connected.wait(WAIT_SECONDS), "the socket opened"

    async def listen(self, url: str, token: str) -> None:
        self.closing = asyncio.Event()
        async with aiohttp.ClientSession() as session, session.ws_connect(url, params={"token": token}) as ws:
            self.connected.set()
            reading = asyncio.ensure_future(self.read(ws))
            await self.closing.wait()
            reading.cancel()

    async def read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for message in ws:
            pushed = json.loads(message.data)
            if pushed["type"] == "notification":
                with self.changed:
                    self.titles.append(pushed["data"]["title"])
                    self.changed.notify_all()

    def receives(self, sender: Server, user_id: str, title: str) -> None:
        """``sender`` publishes an in-app notification; this socket, on another node, gets it."""
        body = {"to": {"user_id": user_id}, "content": {"inapp": {"title": title, "body": "-"}}}
        assert sender.request("POST", "/v1/notifications/publish", body).status_code == 202
        with self.changed:
            assert self.changed.wait_for(lambda: title in self.titles, WAIT_SECONDS), self.titles

    def close(self) -> None:
        assert self.closing is not None
        self.loop.call_soon_threadsafe(self.closing.set)
        self.thread.join(WAIT_SECONDS)
        self.loop.close()


def rows(postgres: PostgresServer, url: str, sql: str) -> list[list[str]]:
    out = postgres.psql(sql, url.rsplit("/", 1)[1])
    return [line.split("|") for line in out.splitlines() if line]


def test_three_nodes_deliver_every_acknowledged_notification_through_a_kill_and_a_database_restart(
    tmp_path: Path, postgres_server: PostgresServer, postgres_url: str, servers: list[Server]
) -> None:
    nodes = start_nodes(tmp_path, postgres_url, servers, 3)
    every_minute = {
        "name": "minutely",
        "cron": "* * * * *",
        "timezone": "UTC",
        "to": [{"email": "cron@example.com"}],
        "content": {"email": {"subject": "tick", "text": "-"}},
    }
    created = nodes[1].request("POST", "/v1/schedules", every_minute)
    assert created.status_code == 201, created.text
    schedule_id = created.json()["id"]

    assert nodes[0].request("PUT", "/v1/users/watcher", {"name": "Watcher"}).status_code == 200
    socket = InboxSocket(nodes[1], "watcher")
    socket.receives(nodes[0], "watcher", "delivered by node 0")

    load = Load(nodes, list(nodes))
    with ThreadPoolExecutor(PUBLISHERS) as pool:
        futures = [pool.submit(load.publish, n) for n in range(RESTART_AFTER)]
        load.wait_for(KILL_AFTER)
        victim = nodes[2]
        with load.lock:
            load.alive.remove(victim)
        victim.kill(signal.SIGKILL)  # its leased jobs go to the others once the leases expire

        load.wait_for(RESTART_AFTER)
        watch = ReadinessWatch(nodes[0])
        assert watch.first() == 200
        postgres_server.pause()  # every connection of every node is cut, and stays cut a while
        # The rest are published into the outage: the nodes answer 503 until it is over.
        futures += [pool.submit(load.publish, n) for n in range(RESTART_AFTER, NOTIFICATIONS)]
        assert nodes[0].wait_for(lambda: load.unavailable > 0 and 503 in watch.seen), (load.unavailable, watch.seen)
        postgres_server.resume()
        for future in futures:
            future.result()  # re-raises a publisher's failure
        assert nodes[0].wait_for(lambda: watch.seen[-1] == 200), watch.seen
        readiness = watch.stop()

    assert readiness[0] == 200 and 503 in readiness and readiness[-1] == 200, f"not ready, then ready: {readiness}"
    assert load.unavailable > 0, "publishes during the restart answered 503"
    socket.receives(nodes[0], "watcher", "delivered by node 0 after the restart")
    socket.close()

    acknowledged = set(load.acknowledged.values())
    assert len(acknowledged) == NOTIFICATIONS, "each key acknowledged with one notification"
    sent_sql = "SELECT COUNT(*) FROM deliveries WHERE status = 'sent' AND batch_id IS NULL AND channel = 'email'"
    assert nodes[0].wait_for(lambda: int(rows(postgres_server, postgres_url, sent_sql)[0][0]) >= NOTIFICATIONS)
    stored = dict(
        rows(
            postgres_server,
            postgres_url,
            "SELECT notification_id, status FROM deliveries WHERE batch_id IS NULL AND channel = 'email'",
        )
    )
    assert set(stored) == acknowledged, "no notification stored that was not acknowledged, none lost"
    assert set(stored.values()) == {"sent"}
    outbox = rows(
        postgres_server,
        postgres_url,
        "SELECT notification_id, COUNT(*) FROM outbox GROUP BY notification_id",
    )
    captured = {nid: int(n) for nid, n in outbox if nid in acknowledged}
    duplicates = sum(n - 1 for n in captured.values())
    assert set(captured) == acknowledged, "every acknowledged notification reached the provider"
    # At least once: a send under way when its node died, or whose outcome could not be stored
    # while PostgreSQL restarted, is sent again once its lease expires. Only those can be: at
    # most the killed node's sends in flight, and each node's at the restart. Reported, too.
    bound = EMAIL_WORKERS * (1 + len(nodes))
    assert duplicates <= bound, f"{duplicates} notifications sent twice: more than the {bound} under way at the faults"
    print(
        f"\ncluster load: {NOTIFICATIONS} acknowledged, {duplicates} sent twice, {load.unavailable} 503s, "
        f"{load.unanswered} unanswered, readiness {readiness}"
    )

    # The cron schedule: once per period across the three (now two) nodes. Two periods are
    # enough to show no period fires twice; waiting for them costs up to two minutes.
    firings_sql = f"SELECT dedupe_key FROM batches WHERE dedupe_key LIKE 'schedule:{schedule_id}@%'"
    assert nodes[0].wait_for(lambda: len(rows(postgres_server, postgres_url, firings_sql)) >= 2, 3 * 60)
    keys = [r[0] for r in rows(postgres_server, postgres_url, firings_sql)]
    assert len(keys) == len(set(keys))
    fanned = rows(
        postgres_server,
        postgres_url,
        "SELECT b.id, COUNT(n.id) FROM batches b LEFT JOIN notifications n ON n.batch_id = b.id"
        f" WHERE b.dedupe_key LIKE 'schedule:{schedule_id}@%' GROUP BY b.id",
    )
    settled = [r for r in fanned if r[1] != "0"]
    assert all(r[1] == "1" for r in settled), f"each firing fanned out once, by one of the nodes: {fanned}"


def test_nodes_initialising_an_empty_database_at_once_make_one_default_tenant(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    # As compose starts its nodes: all at the same moment, on a database nobody initialised.
    for round_ in range(4):
        url = postgres_server.create_database()
        workdirs = [tmp_path / f"r{round_}n{i}" for i in range(3)]
        for workdir in workdirs:
            workdir.mkdir()
            (workdir / "alertflow.toml").write_text(CONFIG.format(url=url))
        with ThreadPoolExecutor(len(workdirs)) as pool:
            done = list(pool.map(lambda w: cli("init", "--json", cwd=w, check=False), workdirs))
        assert [d.returncode for d in done] == [0, 0, 0], [d.stderr for d in done]
        assert sum(json.loads(d.stdout)["api_key"] is not None for d in done) == 1, "one owner key, shown once"
        assert postgres_server.psql("SELECT COUNT(*) FROM tenants", url.rsplit("/", 1)[1]) == "1"
