"""``alertflow bench``: a load generator against an embedded or a running server.

It starts ``alertflow serve`` on a temporary data dir (or targets ``--url``), then measures:
accepted publishes/s and publish latency at ``--concurrency`` clients (closed loop);
publish→sent latency at ``--rate`` notifications/s offered (open loop); end-to-end
throughput at ``--sustain-rate`` with the backlog sampled; server RSS idle and after.
``--bulk N`` sends one N-recipient bulk with ordinary publishes and an OTP a second alongside;
``--topic-subscribers N`` bulk-sends to a topic of N subscribers; ``--digest N`` publishes N
digest events (ops/bench_digest.py).
``--nodes N`` starts N servers on one PostgreSQL database and spreads the closed and open
loops' publishes over them in turn; results are read back from the first.
``--reference`` also serves a bare aiohttp + group-commit endpoint in the same run, on the
run's own kind of storage (SQLite, or a schema of its own in the ``--storage-url`` PostgreSQL
database, dropped after), and prints AlertFlow's publish rate as a ratio of it, so figures
compare across machines.

Long module: it is one command's scenarios, each a few dozen lines over the same Target and Run
and the server the command started; it is a client of the server, imported by no part of it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from ..config import SECRET_KEY_FILE
from ..ids import new_ids
from ..intake.publish import MAX_RECIPIENTS
from ..storage.database import Tx
from ..timefmt import parse

PUBLISH = "/v1/notifications/publish"
START_SECONDS = 30.0
# A server finishes its in-flight work on SIGTERM; past this it is killed.
STOP_SECONDS = 60.0
# This alertflow as a command: the single-file executable (make dist) is the command itself.
FROZEN = bool(getattr(sys, "frozen", False))
ALERTFLOW = [sys.executable] if FROZEN else [sys.executable, "-m", "alertflow"]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def p50_p99(latencies: list[float]) -> str:
    """A report line's "p50 / p99" of latencies in seconds."""
    return f"{ms(pct(latencies, 50))} / {ms(pct(latencies, 99))}"


@dataclass
class Target:
    """A server to bench; with ``--nodes``, the first node, the others in ``others``."""

    url: str
    api_key: str
    pid: int | None = None
    proc: subprocess.Popen[bytes] | None = None
    data_dir: Path | None = None
    tenant_id: str | None = None
    others: list[Target] = field(default_factory=list)

    @property
    def nodes(self) -> list[Target]:
        return [self, *self.others]

    def node(self, i: int) -> Target:
        """The node that takes publish ``i``: round-robin over the nodes."""
        nodes = self.nodes
        return nodes[i % len(nodes)]

    def rss_mib(self) -> float | None:
        if self.pid is None:
            return None
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return None

    def stop(self) -> None:
        """Stop every node: all asked at once, then each waited for (killed if it hangs)."""
        running = [n.proc for n in self.nodes if n.proc and n.proc.poll() is None]
        for proc in running:
            proc.terminate()
        for proc in running:
            try:
                proc.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float = START_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError("server did not become ready")


async def embedded_server(
    workdir: Path,
    config_file: Path | None = None,
    data_dir: Path | None = None,
    storage_url: str | None = None,
    prepare: Callable[[Path, str], None] | None = None,
    env: dict[str, str] | None = None,
    launcher: Sequence[str] = (),
    ready_seconds: float = START_SECONDS,
) -> Target:
    """``alertflow serve`` logging warnings only: on a fresh data dir with the outbox provider,
    unless ``config_file`` and ``data_dir`` say otherwise; on ``storage_url`` ([storage] url)
    when given. Never ./alertflow.toml: a bench must not send through the real providers it may
    name. ``prepare(database, tenant_id)`` runs between ``init`` and ``serve`` (SQLite); ``env``
    sets more of the configuration (``ALERTFLOW_<SECTION>__<KEY>``). ``launcher`` goes before
    the serve command (valgrind, for bench --instructions), which may then take up to
    ``ready_seconds`` to be ready."""
    if config_file is None:
        config_file = workdir / "alertflow.toml"
        config_file.write_text("")
    data_dir = data_dir or workdir / "data"
    env = {**os.environ, **(env or {}), "ALERTFLOW_LOG__LEVEL": "warning", "ALERTFLOW_CONFIG": str(config_file)}
    if storage_url:
        env["ALERTFLOW_STORAGE__URL"] = storage_url
    init = subprocess.run(
        [*ALERTFLOW, "init", "--json", "--data-dir", str(data_dir)],
        env=env,
        cwd=workdir,
        capture_output=True,
        text=True,
        check=True,
    )
    created = json.loads(init.stdout)
    if prepare is not None:
        await asyncio.to_thread(prepare, data_dir / "alertflow.db", created["tenant_id"])
    port = _free_port()
    proc = subprocess.Popen(
        [*launcher, *ALERTFLOW, "serve", "--port", str(port), "--data-dir", str(data_dir)],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "serve.log", "wb"),
    )
    url = f"http://127.0.0.1:{port}"
    target = Target(url, created["api_key"], proc.pid, proc, data_dir, created["tenant_id"])
    try:
        await _wait_ready(url + "/readyz", proc, ready_seconds)
    except BaseException:  # Ctrl-C or a failed start: the process must not outlive the bench
        target.stop()
        raise
    return target


async def embedded_nodes(
    workdir: Path, count: int, config_file: Path | None, data_dir: Path | None, storage_url: str | None
) -> Target:
    """``count`` embedded servers on one database, started one after another: the first
    initialises it (its tenant and key serve for all), the others get its secret key file,
    as every node of a cluster needs the same key. Each has a working dir and data dir of its
    own (``data_dir`` is the first's). Started nodes are stopped if a later one fails."""
    first = await embedded_server(workdir, config_file, data_dir, storage_url)
    assert first.data_dir is not None
    key_file = first.data_dir / SECRET_KEY_FILE
    try:
        for i in range(1, count):
            node_dir = workdir / f"node{i + 1}"
            (node_dir / "data").mkdir(parents=True)
            if key_file.exists():  # absent when --config sets server.secret_key for every node
                shutil.copy2(key_file, node_dir / "data" / SECRET_KEY_FILE)
            node = await embedded_server(node_dir, config_file, node_dir / "data", storage_url)
            node.api_key, node.tenant_id = first.api_key, first.tenant_id
            first.others.append(node)
    except BaseException:
        first.stop()
        raise
    return first


# Where the PostgreSQL reference keeps its tables: a schema of its own, so it never writes
# among AlertFlow's, made afresh for the run and dropped after it.
REFERENCE_SCHEMA = "alertflow_bench_reference"


def reference_schema(storage_url: str, create: bool) -> str:
    """Drop the PostgreSQL reference's schema and, if ``create``, make it anew; the
    connection string that puts the reference's tables in it."""
    from ..storage.postgres import scratch_schema  # psycopg, only when PostgreSQL is benched

    return scratch_schema(storage_url, REFERENCE_SCHEMA, create)


async def reference_server(workdir: Path, storage_url: str | None = None) -> Target:
    """The bare reference on the run's kind of storage: a new SQLite file, or (``storage_url``)
    a schema of its own in that PostgreSQL database."""
    if storage_url:
        where = ["postgresql", await asyncio.to_thread(reference_schema, storage_url, True)]
    else:
        where = ["sqlite", str(workdir / "ref.db")]
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "alertflow.ops.bench", *where, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    await _wait_ready(url + "/healthz", proc)
    return Target(url, "", proc.pid, proc)


def serve_reference(kind: str, where: str, port: int) -> None:
    """The yardstick: JSON in, one row written through a group-committing writer, JSON out.
    The row is a tenant (a one-statement insert with no checks) named by its new id and the
    request body: names are unique, and the warm-up run sends the measured run's first bodies.
    ``kind`` is "sqlite" (``where`` a file) or "postgresql" (``where`` a connection string)."""
    from aiohttp import web

    from ..storage import tenant_rows
    from ..storage.database import Database, SQLiteDatabase

    database: Database
    if kind == "postgresql":
        from ..storage.postgres import PostgresDatabase

        database = PostgresDatabase(where)
    else:
        database = SQLiteDatabase(Path(where))

    async def publish(request: web.Request) -> web.Response:
        body = await request.json()
        key = os.urandom(8).hex()
        await database.write(lambda tx: tenant_rows.add_tenant(tx, key, f"{key} {json.dumps(body)}", 0.0))
        return web.json_response({"ok": True}, status=202)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def lifecycle(app: web.Application) -> Any:
        await database.open()
        yield
        await database.close()

    app = web.Application()
    app.router.add_post(PUBLISH, publish)
    app.router.add_get("/healthz", healthz)
    app.cleanup_ctx.append(lifecycle)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def address(phase: str, i: int) -> str:
    """Recipient ``i`` of a bench phase: phases never share an address, so a sink that
    counts arrivals per address tells each phase's deliveries apart."""
    return f"{phase}{i}@example.com"


def body_for(i: int, phase: str = "user") -> dict[str, Any]:
    return {
        "to": {"email": address(phase, i)},
        "content": {"email": {"subject": f"Bench {i}", "text": "Your disk is 95% full."}},
    }


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    ids: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    by_node: Counter[str] = field(default_factory=Counter)  # accepted publishes per node URL
    # When accepted publish i was sent (time.time()): comparable with another process's clock.
    published_at: dict[int, float] = field(default_factory=dict)


async def _post(http: aiohttp.ClientSession, target: Target, i: int, run: Run, phase: str = "user") -> None:
    at, started = time.time(), time.perf_counter()
    try:
        async with http.post(
            target.url + PUBLISH, json=body_for(i, phase), headers={"Authorization": f"Bearer {target.api_key}"}
        ) as resp:
            payload = await resp.read()
            if resp.status != 202:
                run.errors += 1
                return
    except aiohttp.ClientError:
        run.errors += 1
        return
    run.latencies.append(time.perf_counter() - started)
    run.published_at[i] = at
    run.by_node[target.url] += 1
    if payload.startswith(b'{"notifications"'):
        run.ids.append(json.loads(payload)["notifications"][0]["id"])


async def closed_loop(target: Target, total: int, concurrency: int) -> Run:
    """``concurrency`` clients, each publishing as soon as its previous one was accepted."""
    run = Run()
    counter = iter(range(total))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:

        async def client() -> None:
            for i in counter:
                await _post(http, target.node(i), i, run)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        run.elapsed = time.perf_counter() - started
    return run


def choose_generator(args: Any) -> bool:
    """Set ``args.generator``, the closed loops' load generator: wrk when it is installed,
    unless told; False when wrk was asked for and is missing. wrk, in C, outruns both
    servers; the Python clients saturate sooner, which caps the faster reference more."""
    if args.generator in (None, "auto"):
        args.generator = "wrk" if shutil.which("wrk") else "python"
    return args.generator != "wrk" or shutil.which("wrk") is not None


@dataclass(frozen=True)
class Closed:
    """A closed loop's figures, whichever generator drove it."""

    what: str  # how long it ran: requests or seconds
    per_s: float
    p50_s: float
    p99_s: float
    errors: int
    by_node: dict[str, int]  # accepted publishes per node URL


async def publish_phase(target: Target, args: Any, generator: str) -> Closed:
    """The closed-loop publish run, after a warm-up: by wrk (``--seconds`` long), or by the
    Python clients (``-n`` requests), which cap a fast server sooner than wrk does."""
    if generator == "wrk":
        seconds = max(1, math.ceil(args.seconds))
        await wrk_closed_loop(target, 1, args.concurrency)
        return await wrk_closed_loop(target, seconds, args.concurrency)
    await closed_loop(target, min(2000, args.requests), args.concurrency)
    run = await closed_loop(target, args.requests, args.concurrency)
    return Closed(
        f"{args.requests} requests",
        len(run.latencies) / run.elapsed,
        pct(run.latencies, 50),
        pct(run.latencies, 99),
        run.errors,
        dict(run.by_node),
    )


# wrk's requests: the same body as body_for's, numbered per thread and request so that no
# two are alike; ``done`` prints the figures as one JSON line after wrk's own report.
WRK_SCRIPT = """
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  key, n = args[1], 0
end
function request()
  n = n + 1
  local body = string.format('{"to":{"email":"wrk%d-%d@example.com"},"content":{"email":'
    .. '{"subject":"Bench %d","text":"Your disk is 95%% full."}}}', tid, n, n)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. key}, body)
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status + e.connect + e.read + e.write + e.timeout))
end
"""


async def wrk_closed_loop(target: Target, seconds: int, concurrency: int) -> Closed:
    """wrk publishing for ``seconds``: one wrk per node, at once, sharing ``concurrency``
    connections. Across nodes the p50 is the mean of theirs weighted by requests, and the p99
    the highest of theirs: wrk reports percentiles, not the samples to pool."""
    nodes = target.nodes
    shares = [max(1, concurrency // len(nodes) + (i < concurrency % len(nodes))) for i in range(len(nodes))]
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as script:
        script.write(WRK_SCRIPT)
        script.flush()
        runs = await asyncio.gather(
            *(_wrk(node, seconds, share, script.name) for node, share in zip(nodes, shares, strict=True))
        )
    total = sum(figures["requests"] for figures in runs)
    return Closed(
        f"{seconds} s",
        sum(figures["requests"] / (figures["duration_us"] / 1e6) for figures in runs),
        sum(figures["p50_us"] * figures["requests"] for figures in runs) / max(total, 1) / 1e6,
        max(figures["p99_us"] for figures in runs) / 1e6,
        sum(figures["errors"] for figures in runs),
        {node.url: figures["requests"] - figures["errors"] for node, figures in zip(nodes, runs, strict=True)},
    )


async def _wrk(target: Target, seconds: int, connections: int, script: str) -> dict[str, int]:
    """One wrk (up to two threads) against one server: the figures its script prints."""
    proc = await asyncio.create_subprocess_exec(
        "wrk",
        f"-t{min(2, connections)}",  # wrk wants a connection per thread at least
        f"-c{connections}",
        f"-d{seconds}s",
        "-s",
        script,
        target.url + PUBLISH,
        "--",
        target.api_key,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await proc.communicate()
    except BaseException:  # Ctrl-C, or another node's wrk failed: this one stops too
        proc.kill()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed: {err.decode().strip()}")
    figures: dict[str, int] = json.loads(out.decode().strip().splitlines()[-1])
    return figures


async def open_loop(
    target: Target,
    rate: float,
    seconds: float,
    sample: Callable[[Run], Awaitable[None]] | None = None,
    phase: str = "user",
) -> Run:
    """Publish at a fixed offered rate regardless of how fast answers come back, one email
    to ``address(phase, i)`` per request; ``sample(run so far)`` about once a second."""
    run = Run()
    total = int(rate * seconds)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000)) as http:
        tasks: set[asyncio.Task[None]] = set()
        started = time.perf_counter()
        for i in range(total):
            due = started + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(_post(http, target.node(i), i, run, phase))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            if sample and i % int(rate) == 0:
                await sample(run)
        await asyncio.gather(*tasks)
        run.elapsed = time.perf_counter() - started
    return run


async def sent_times(target: Target, ids: list[str]) -> dict[str, tuple[float, float | None]]:
    """(created, first sent or None) per notification of ``ids`` found, in epoch seconds, read
    back through the API (works against --url too)."""
    wanted = set(ids)
    found: dict[str, tuple[float, float | None]] = {}
    async with aiohttp.ClientSession() as http:
        cursor: str | None = None
        while wanted:
            url = f"{target.url}/v1/notifications?limit=500" + (f"&cursor={cursor}" if cursor else "")
            async with http.get(url, headers={"Authorization": f"Bearer {target.api_key}"}) as resp:
                page = await resp.json()
            for item in page["items"]:
                if item["id"] not in wanted:
                    continue
                wanted.discard(item["id"])
                sent = [d["sent_at"] for d in item["deliveries"] if d["sent_at"]]
                found[item["id"]] = (
                    parse("created_at", item["created_at"]),
                    parse("sent_at", sent[0]) if sent else None,
                )
            cursor = page["next_cursor"]
            if not cursor:
                break
    return found


async def sent_latencies(target: Target, ids: list[str]) -> tuple[list[float], int]:
    """created→sent per notification, and how many were not sent (or not found)."""
    times = await sent_times(target, ids)
    latencies = [sent - created for created, sent in times.values() if sent is not None]
    return latencies, len(ids) - len(latencies)


async def backlog(target: Target) -> int:
    """Jobs not yet settled (ready, leased or waiting), from the server's own /metrics gauge:
    exact however large, where a page of the notifications list would stop counting at its limit."""
    async with aiohttp.ClientSession() as http, http.get(f"{target.url}/metrics") as resp:
        text = await resp.text()
    return sum(
        int(float(line.rsplit(" ", 1)[1])) for line in text.splitlines() if line.startswith("alertflow_queue_jobs{")
    )


async def wait_drained(target: Target, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and await backlog(target):
        await asyncio.sleep(0.2)


async def inbox_fanout(target: Target, sockets: int) -> dict[str, Any]:
    """``sockets`` users each hold an inbox WebSocket; each gets one in-app notification.

    Publishes go out in bulk ``to`` lists of up to 1,000 users at once; a user's latency is
    from the start of the publish request that named them to the item arriving on their socket.
    """
    auth = {"Authorization": f"Bearer {target.api_key}"}
    users = [f"bench-inbox-{i}" for i in range(sockets)]
    # WebSockets hold a connector slot for their whole life: they get a connector without a cap.
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=50)) as http,
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as ws_http,
    ):

        async def token(user: str) -> str:
            async with http.put(f"{target.url}/v1/users/{user}", json={}, headers=auth) as resp:
                resp.raise_for_status()
            async with http.post(f"{target.url}/v1/users/{user}/inbox-token", headers=auth) as resp:
                return str((await resp.json())["token"])

        async def connect(user: str) -> aiohttp.ClientWebSocketResponse:
            ws = await ws_http.ws_connect(f"{target.url}/v1/inbox/ws", params={"token": await token(user)})
            while (await ws.receive_json())["type"] != "unread_count":  # connected: backlog and count sent
                pass
            return ws

        received: dict[str, float] = {}

        async def listen(user: str, ws: aiohttp.ClientWebSocketResponse) -> None:
            while (await ws.receive_json())["type"] != "notification":
                pass
            received[user] = time.perf_counter()

        started: dict[str, float] = {}

        async def publish(batch: list[str]) -> None:
            body = {"to": [{"user_id": u} for u in batch], "content": {"inapp": {"title": "Bench", "body": "ping"}}}
            at = time.perf_counter()
            async with http.post(target.url + PUBLISH, json=body, headers=auth) as resp:
                resp.raise_for_status()
            started.update(dict.fromkeys(batch, at))

        opened: list[aiohttp.ClientWebSocketResponse] = []
        for start in range(0, sockets, 100):  # in waves, as browsers would arrive
            opened += await asyncio.gather(*(connect(u) for u in users[start : start + 100]))
        listeners = [asyncio.create_task(listen(u, ws)) for u, ws in zip(users, opened, strict=True)]
        await asyncio.gather(*(publish(users[i : i + MAX_RECIPIENTS]) for i in range(0, sockets, MAX_RECIPIENTS)))
        await asyncio.wait(listeners, timeout=30)
        rss = target.rss_mib()  # with every socket still open
        for task in listeners:
            task.cancel()
        await asyncio.gather(*(ws.close() for ws in opened))
    lat = [received[u] - started[u] for u in received]
    report(
        f"in-app: {sockets} sockets, one notification each, publish→received on the socket",
        [
            ("p50 / p99 / max", f"{ms(pct(lat, 50))} / {ms(pct(lat, 99))} / {ms(max(lat, default=float('nan')))}"),
            ("not received within 30 s", str(sockets - len(lat))),
            ("server RSS with the sockets open", f"{rss:.0f} MiB" if rss is not None else "n/a (--url)"),
        ],
    )
    return {
        "inbox_p50_ms": pct(lat, 50) * 1000,
        "inbox_p99_ms": pct(lat, 99) * 1000,
        "inbox_missing": sockets - len(lat),
        "inbox_rss_mib": rss,
    }


def report(title: str, lines: list[tuple[str, str]]) -> None:
    print(f"\n== {title}")
    for name, value in lines:
        print(f"  {name:<34} {value}")


def report_nodes(target: Target) -> None:
    """The nodes, at once (flushed): whoever runs the bench sees what it started."""
    report(
        f"{len(target.nodes)} nodes on one database; results read from node 1",
        [(f"node {i}", f"{node.url} pid {node.pid}") for i, node in enumerate(target.nodes, 1)],
    )
    sys.stdout.flush()


def by_node_line(target: Target, by_node: dict[str, int]) -> list[tuple[str, str]]:
    """A run's accepted publishes per node, in node order; nothing for a single server."""
    if not target.others:
        return []
    return [("accepted by node", " / ".join(str(by_node.get(node.url, 0)) for node in target.nodes))]


async def bench(args: Any) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="alertflow-bench-") as tmp:
        workdir = Path(tmp)
        if args.purge:
            return await purge_run(workdir, args.purge, args.rate, args.seconds)
        target = (
            Target(args.url, args.api_key)
            if args.url
            else await embedded_nodes(workdir, args.nodes, args.config_file, args.data_dir, args.storage_url)
        )
        try:
            results["nodes"] = [{"url": node.url, "pid": node.pid} for node in target.nodes]
            if target.others:
                report_nodes(target)
            await asyncio.sleep(1.0)
            results["idle_rss_mib"] = target.rss_mib()
            generator = results["generator"] = args.generator
            closed = await publish_phase(target, args, generator)
            results["publish_per_s"] = closed.per_s
            results["publish_p50_ms"] = closed.p50_s * 1000
            results["publish_p99_ms"] = closed.p99_s * 1000
            results["publish_errors"] = closed.errors
            results["publish_by_node"] = closed.by_node
            report(
                f"publish, closed loop: {closed.what}, {args.concurrency} clients, generator {generator}",
                [
                    ("accepted publishes/s", f"{closed.per_s:.0f}"),
                    ("publish latency p50 / p99", f"{ms(closed.p50_s)} / {ms(closed.p99_s)}"),
                    ("errors", str(closed.errors)),
                    *by_node_line(target, closed.by_node),
                ],
            )
            await wait_drained(target)

            run = await open_loop(target, args.rate, args.seconds)
            await wait_drained(target)
            lat, unsent = await sent_latencies(target, run.ids)
            results["sent_p50_ms"] = pct(lat, 50) * 1000
            results["sent_p99_ms"] = pct(lat, 99) * 1000
            results["sent_missing"] = unsent
            results["sent_by_node"] = dict(run.by_node)
            report(
                f"publish→sent at {args.rate:.0f}/s offered for {args.seconds:.0f} s",
                [
                    ("publish latency p50 / p99", p50_p99(run.latencies)),
                    ("publish→sent p50 / p99", p50_p99(lat)),
                    ("not sent", str(unsent)),
                    ("errors", str(run.errors)),
                    *by_node_line(target, run.by_node),
                ],
            )

            samples: list[int] = []

            async def sample(_: Run) -> None:
                samples.append(await backlog(target))

            run = await open_loop(target, args.sustain_rate, args.seconds, sample)
            drained_at = time.perf_counter()
            await wait_drained(target)
            drain = time.perf_counter() - drained_at
            lat, unsent = await sent_latencies(target, run.ids)
            results["sustained_per_s"] = len(run.latencies) / (run.elapsed + drain)
            results["backlog_samples"] = samples
            results["sustained_missing"] = unsent
            results["sustained_by_node"] = dict(run.by_node)
            report(
                f"end to end at {args.sustain_rate:.0f}/s offered for {args.seconds:.0f} s",
                [
                    ("accepted/s", f"{len(run.latencies) / run.elapsed:.0f}"),
                    ("delivered/s (incl. drain)", f"{results['sustained_per_s']:.0f}"),
                    ("backlog each second", " ".join(map(str, samples))),
                    ("drain after last publish", f"{drain:.2f} s"),
                    ("publish→sent p50 / p99", p50_p99(lat)),
                    ("not sent", str(unsent)),
                    ("errors", str(run.errors)),
                    *by_node_line(target, run.by_node),
                ],
            )
            if args.bulk:
                results.update(await bulk_run(target, args.bulk, args.bulk_publish_rate))
            if args.topic_subscribers and not args.storage_url:  # its users go straight into SQLite
                results.update(await topic_run(target, args.topic_subscribers))
            for scenario in args.scenarios:  # more sections on the same server (bench_digest)
                results.update(await scenario(target))
            results["rss_mib"] = target.rss_mib()
            report("server memory", [("RSS idle / after", f"{results['idle_rss_mib']} / {results['rss_mib']} MiB")])
            if args.sockets:
                results.update(await inbox_fanout(target, args.sockets))
        finally:
            target.stop()
        if args.reference:
            ref = await reference_server(workdir, args.storage_url)
            try:
                closed = await publish_phase(ref, args, results["generator"])
            finally:
                ref.stop()
                if args.storage_url:
                    await asyncio.to_thread(reference_schema, args.storage_url, False)
            results["reference_per_s"] = closed.per_s
            results["reference_ratio"] = results["publish_per_s"] / closed.per_s
            results["reference_storage"] = "postgresql" if args.storage_url else "sqlite"
            report(
                f"reference: bare aiohttp + {results['reference_storage']} group commit (one process),"
                f" generator {results['generator']}",
                [
                    ("accepted/s", f"{closed.per_s:.0f}"),
                    ("latency p50 / p99", f"{ms(closed.p50_s)} / {ms(closed.p99_s)}"),
                    ("AlertFlow / reference", f"{results['reference_ratio']:.2f}"),
                ],
            )
    return results


BULK = "/v1/notifications/bulk"
# How long a bulk may take before the benchmark gives up on it.
BULK_DEADLINE_SECONDS = 600.0
# An OTP every this many seconds while a bulk is under way, on the bulk's own channel.
OTP_INTERVAL_SECONDS = 1.0
# Batch polls are spaced by this fraction of the time elapsed so far (see _until_status).
POLL_FRACTION = 0.02
# The largest subscriber list one PUT /v1/topics/{key}/subscribers takes.
SUBSCRIBERS_PER_PUT = 100_000


def _headers(target: Target) -> dict[str, str]:
    return {"Authorization": f"Bearer {target.api_key}", "Content-Type": "application/json"}


async def _batch(http: aiohttp.ClientSession, target: Target, batch_id: str) -> dict[str, Any]:
    async with http.get(f"{target.url}/v1/batches/{batch_id}", headers=_headers(target)) as resp:
        return await resp.json()


async def _accept_bulk(http: aiohttp.ClientSession, target: Target, body: dict[str, Any]) -> str:
    async with http.post(target.url + BULK, data=json.dumps(body), headers=_headers(target)) as resp:
        if resp.status != 202:
            raise RuntimeError(f"bulk refused: {resp.status} {await resp.text()}")
        return str((await resp.json())["batch_id"])


async def _until_status(
    http: aiohttp.ClientSession, target: Target, batch_id: str, started: float, wanted: tuple[str, ...]
) -> float:
    """Seconds from ``started`` until the batch's status is one of ``wanted`` (polled).

    Polls are spaced by 2% of the time elapsed, so the measurement stays within 2%. The
    server counts a big batch's deliveries at most once a second (batches.view), so polling
    does not slow what it measures.
    """
    deadline = started + BULK_DEADLINE_SECONDS
    while (now := time.perf_counter()) < deadline:
        if (await _batch(http, target, batch_id))["status"] in wanted:
            return time.perf_counter() - started
        await asyncio.sleep(max(0.02, (now - started) * POLL_FRACTION))
    return float("nan")


async def _alongside(
    http: aiohttp.ClientSession, target: Target, rate: float, stop: asyncio.Event, started: float
) -> tuple[list[tuple[float, float]], list[str]]:
    """Ordinary publishes at ``rate``/s and an OTP a second until ``stop``: (offset, latency)
    of each publish, and the OTPs' notification ids."""
    publishes: list[tuple[float, float]] = []
    otps: list[str] = []
    tasks: set[asyncio.Task[None]] = set()

    async def publish(body: dict[str, Any], otp: bool) -> None:
        sent = time.perf_counter()
        async with http.post(target.url + PUBLISH, json=body, headers=_headers(target)) as resp:
            payload = await resp.json()
        if otp:
            otps.append(payload["notifications"][0]["id"])
        else:
            publishes.append((sent - started, time.perf_counter() - sent))

    i, next_otp = 0, time.perf_counter()
    while not stop.is_set():
        now = time.perf_counter()
        if now >= next_otp:
            otp = {
                "to": {"email": f"otp{len(otps)}@example.com"},
                "content": {"email": {"subject": "Your code", "text": "123456"}},
                "category": "otp",
            }
            tasks.add(asyncio.create_task(publish(otp, True)))
            next_otp += OTP_INTERVAL_SECONDS
        if rate:
            tasks.add(asyncio.create_task(publish(body_for(i), False)))
            i += 1
        await asyncio.sleep(1 / rate if rate else OTP_INTERVAL_SECONDS)
    await asyncio.gather(*tasks)
    return publishes, otps


async def _sent_after(http: aiohttp.ClientSession, target: Target, notification_id: str) -> float:
    """created→sent of one notification, in seconds (NaN when it was not sent)."""
    async with http.get(f"{target.url}/v1/notifications/{notification_id}", headers=_headers(target)) as resp:
        item = await resp.json()
    sent = [d["sent_at"] for d in item["deliveries"] if d["sent_at"]]
    return parse("sent_at", sent[0]) - parse("created_at", item["created_at"]) if sent else float("nan")


async def bulk_run(target: Target, recipients: int, publish_rate: float) -> dict[str, Any]:
    """A bulk through the outbox: time until every delivery exists (committed), until every
    one is sent, publish latency alongside, and an OTP's publish→sent latency meanwhile."""
    body = {
        "to": [{"email": f"bulk{i}@example.com"} for i in range(recipients)],
        "content": {"email": {"subject": "Winter sale", "text": "Everything must go."}},
    }
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000)) as http:
        stop = asyncio.Event()
        started = time.perf_counter()
        batch_id = await _accept_bulk(http, target, body)
        accepted = time.perf_counter() - started
        alongside = asyncio.create_task(_alongside(http, target, publish_rate, stop, started))
        fanned_out = await _until_status(http, target, batch_id, started, ("sending", "completed"))
        sent = await _until_status(http, target, batch_id, started, ("completed",))
        stop.set()
        publishes, otps = await alongside
        otp_latencies = [await _sent_after(http, target, nid) for nid in otps]
    during = [latency for offset, latency in publishes if offset <= fanned_out]
    results = {
        "bulk_recipients": recipients,
        "bulk_accepted_s": accepted,
        "bulk_fanned_out_s": fanned_out,
        "bulk_sent_s": sent,
        "bulk_publish_p99_during_fanout_ms": pct(during, 99) * 1000,
        "bulk_publish_p99_ms": pct([lat for _, lat in publishes], 99) * 1000,
        "bulk_otp_p50_ms": pct(otp_latencies, 50) * 1000,
        "bulk_otp_max_ms": pct(otp_latencies, 100) * 1000,
    }
    report(
        f"bulk of {recipients} through the outbox, {publish_rate:.0f} publishes/s and an OTP a second alongside",
        [
            ("202 after", f"{accepted:.2f} s"),
            ("all deliveries committed after", f"{fanned_out:.2f} s"),
            ("all sent after", f"{sent:.2f} s"),
            ("publish p99 during fan-out / all", f"{ms(pct(during, 99))} / {ms(pct([p[1] for p in publishes], 99))}"),
            ("OTP publish→sent p50 / max", f"{ms(pct(otp_latencies, 50))} / {ms(pct(otp_latencies, 100))}"),
            ("OTPs", str(len(otp_latencies))),
        ],
    )
    return results


def _insert_users(database: Path, tenant_id: str, count: int) -> None:
    """Users straight into the database: the API has no bulk user import, and a million PUTs
    would measure something else."""
    from ..storage import offline, users

    emails = ((f"sub{i:07d}", f"sub{i}@example.com") for i in range(count))
    with offline.session(database) as session:
        session.write(lambda tx: users.add_by_email(tx, tenant_id, emails, time.time()))


async def topic_run(target: Target, subscribers: int) -> dict[str, Any]:
    """A bulk to a topic of ``subscribers``: time until every delivery exists (committed)."""
    if target.data_dir and target.tenant_id:
        await asyncio.to_thread(_insert_users, target.data_dir / "alertflow.db", target.tenant_id, subscribers)
    else:
        print("  (--url: subscribers without user records are suppressed as unknown users)")
    async with aiohttp.ClientSession() as http:
        for start in range(0, subscribers, SUBSCRIBERS_PER_PUT):
            ids = [f"sub{i:07d}" for i in range(start, min(subscribers, start + SUBSCRIBERS_PER_PUT))]
            async with http.put(
                f"{target.url}/v1/topics/everyone/subscribers",
                data=json.dumps({"user_ids": ids, "mode": "add"}),
                headers=_headers(target),
            ) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"subscribers refused: {resp.status} {await resp.text()}")
        started = time.perf_counter()
        body = {"topic": "everyone", "content": {"email": {"subject": "News", "text": "Read all about it."}}}
        batch_id = await _accept_bulk(http, target, body)
        accepted = time.perf_counter() - started
        stored = await _until_status(http, target, batch_id, started, ("sending", "completed"))
        fanned = (await _batch(http, target, batch_id))["fanned_out"]
    report(
        f"bulk to a topic of {subscribers} subscribers",
        [
            ("202 after", f"{accepted:.2f} s"),
            ("all deliveries committed after", f"{stored:.2f} s"),
            ("recipients", str(fanned)),
        ],
    )
    return {"topic_subscribers": subscribers, "topic_accepted_s": accepted, "topic_stored_s": stored}


# Old rows one seeding write stores; the age they get, past every default retention.
SEED_CHUNK = 20_000
SEED_AGE_DAYS = 400
# The first purge pass starts this long after the baseline run has ended.
PURGE_START_MARGIN_SECONDS = 3.0


def seed_old_notifications(database: Path, tenant_id: str, count: int) -> None:
    """``count`` sent email notifications of SEED_AGE_DAYS ago, one delivery each, written
    straight into the database (a million publishes would take the run's time)."""
    from ..storage import offline

    at = time.time() - SEED_AGE_DAYS * 86400
    with offline.session(database) as session:
        for start in range(0, count, SEED_CHUNK):
            rows = range(start, min(count, start + SEED_CHUNK))
            # Real ids, made now: they sort before the run's publishes, as old rows' ids do.
            nids, dids = new_ids("ntf", len(rows)), new_ids("dlv", len(rows))
            ns = [
                (
                    nids[i - start],
                    tenant_id,
                    None,
                    "default",
                    "medium",
                    at + i * 1e-3,
                    None,
                    '{"email":"old@example.com"}',
                    "{}",
                    None,
                    None,
                    "{}",
                    None,
                    None,
                )
                for i in rows
            ]
            ds = [(d, n, tenant_id, "email", "sent", None, at, at, None) for d, n in zip(dids, nids, strict=True)]
            session.write(functools.partial(_store, ns=ns, ds=ds))


def _store(tx: Tx, ns: list[tuple[Any, ...]], ds: list[tuple[Any, ...]]) -> None:
    from ..storage import notifications

    notifications.insert(tx, ns, ds, [])


async def purged_rows(target: Target) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"{target.url}/metrics") as resp:
        text = await resp.text()
    found = re.search(r'alertflow_retention_purged_rows_total\{kind="notifications"\} (\d+)', text)
    return int(found.group(1)) if found else 0


async def purge_run(workdir: Path, rows: int, rate: float, seconds: float) -> dict[str, Any]:
    """Publish latency at ``rate``/s for ``seconds``, first alone, then while the retention
    purge deletes ``rows`` old notifications (its first pass starts after the first run)."""
    config_file = workdir / "alertflow.toml"
    start_after = 1.0 + seconds + PURGE_START_MARGIN_SECONDS
    config_file.write_text(f"[retention]\ninterval_seconds = {start_after}\n")
    seeding = time.perf_counter()
    target = await embedded_server(
        workdir, config_file, prepare=lambda db, tenant: seed_old_notifications(db, tenant, rows)
    )
    seeded = time.perf_counter() - seeding
    try:
        await asyncio.sleep(1.0)
        alone = await open_loop(target, rate, seconds)
        deadline = time.perf_counter() + start_after + PURGE_START_MARGIN_SECONDS
        while await purged_rows(target) == 0:
            if time.perf_counter() > deadline:
                raise RuntimeError("the purge did not start: see serve.log")
            await asyncio.sleep(0.1)
        during = await open_loop(target, rate, seconds)
        purged_by_end = await purged_rows(target)
    finally:
        target.stop()
    results = {
        "purge_rows": rows,
        "publish_p99_alone_ms": pct(alone.latencies, 99) * 1000,
        "publish_p99_purging_ms": pct(during.latencies, 99) * 1000,
        "purged_during_run": purged_by_end,
    }
    report(
        f"publish at {rate:.0f}/s for {seconds:.0f} s, alone and while purging {rows} old notifications",
        [
            ("seeding (init + rows)", f"{seeded:.1f} s"),
            ("publish p50 / p99 alone", p50_p99(alone.latencies)),
            ("publish p50 / p99 purging", p50_p99(during.latencies)),
            ("notifications purged by the end of that run", str(purged_by_end)),
            ("errors alone / purging", f"{alone.errors} / {during.errors}"),
        ],
    )
    return results


if __name__ == "__main__":  # the reference server's process
    serve_reference(sys.argv[1], sys.argv[2], int(sys.argv[3]))
