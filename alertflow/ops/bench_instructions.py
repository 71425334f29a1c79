"""``alertflow bench --instructions N``: the server's work per publish and per email delivered,
counted in instructions by valgrind's callgrind rather than timed.

On a small shared machine the same code's rates move by a third between runs (issue 19: a raw
SMTP ceiling read 1,750/s in one run and 3,834/s in another, nothing else running), so a
change of a tenth cannot be seen in three runs of a timed bench. The instructions a process
executes for the same work move by ~0.2% run to run on an idle machine, and by ~2% on a busy
one (the sends batch differently into pool cycles). What they leave out: system calls, waits,
cache misses, and PostgreSQL's own work (only the node is counted).

Two servers run under ``valgrind --tool=callgrind --instr-atstart=no``, each counting inside
one window only (``callgrind_control -i on``/``off``, then ``-d`` dumps it):

1. publish: on data of its own, its email workers paused, ``N`` closed-loop publishes of one
   email each, after as many uncounted (at most ``WARMUP``);
2. delivery: on other data, with its workers, the server is first published ``N`` emails for
   a time a little ahead, uncounted. It counts from just before that time until the aiosmtpd
   sink has every one, so neither its start-up nor the queueing is in the count, and nothing
   the publish window queued is sent in it.

On PostgreSQL (``--storage-url``) the delivery's data is that database and the publish's a
schema of its own in it (``PUBLISH_SCHEMA``), dropped after the run. Each figure is the
window's total, every thread of the process, divided by ``N``.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from ..timefmt import iso
from .bench import Target, address, closed_loop, embedded_server, report
from .bench_drain import enqueue
from .bench_smtp import Sink, server_config

# Publishes before the publish window (as many as it counts, up to this): first calls fill
# caches and warm the allocator.
WARMUP = 300
CLIENTS = 20
# Under callgrind a server starts ~50x slower than natively; readiness is waited for this long.
READY_SECONDS = 600.0
# The backlog falls due this long after the delivering server starts to queue it (publishing
# under callgrind runs ~50x slower), so nothing is sent before the count begins.
QUEUE_SECONDS = 10.0
QUEUE_SECONDS_PER_EMAIL = 0.005
# Sends under callgrind run ~50x slower: the arrivals are waited for at most this long.
DELIVERY_SECONDS_PER_EMAIL = 0.5
PHASE = "cg"  # the sink's recipients of the delivery window: address(PHASE, i)
# The publish window's data on PostgreSQL: beside the delivery's, never among it.
PUBLISH_SCHEMA = "alertflow_bench_instructions"
_TOTALS = re.compile(r"^totals:\s+(\d+)", re.MULTILINE)


def callgrind_missing() -> str | None:
    """What to say when valgrind's callgrind is not installed; None when it is."""
    missing = [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]
    if not missing:
        return None
    return f"--instructions needs valgrind ({', '.join(missing)} not found; Debian: apt-get install valgrind)"


class Counted:
    """A server under callgrind, counting only between :meth:`on` and :meth:`off`."""

    def __init__(self, target: Target, out: Path) -> None:
        self.target = target
        self.out = out

    @classmethod
    async def start(cls, workdir: Path, config_file: Path, storage_url: str | None, env: dict[str, str]) -> Counted:
        out = workdir / "callgrind.out"
        launcher = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}"]
        target = await embedded_server(
            workdir,
            config_file,
            workdir / "data",
            storage_url,
            env=env,
            launcher=launcher,
            ready_seconds=READY_SECONDS,
        )
        return cls(target, out)

    async def _control(self, *args: str) -> None:
        await asyncio.to_thread(
            subprocess.run, ["callgrind_control", *args, str(self.target.pid)], check=True, capture_output=True
        )

    async def on(self) -> None:
        await self._control("-i", "on")

    async def off(self) -> int:
        """Stop counting and dump the window, a server's one: its instructions (every thread)."""
        await self._control("-i", "off")
        await self._control("-d")
        return await asyncio.to_thread(_totals, Path(f"{self.out}.1"))  # callgrind numbers its dumps from 1


def _totals(dump: Path) -> int:
    found = _TOTALS.search(dump.read_text()) if dump.exists() else None
    if found is None:
        raise RuntimeError(f"callgrind wrote no totals in {dump}")
    return int(found.group(1))


async def instructions_run(workdir: Path, total: int, connections: int, storage_url: str | None) -> dict[str, Any]:
    """The two windows (see the module's docstring); valgrind must be installed (callgrind_missing)."""
    sink = await Sink.start()
    publish_url = await asyncio.to_thread(publish_schema, storage_url, True) if storage_url else None
    try:
        config_file = workdir / "alertflow.toml"
        config_file.write_text(server_config(sink, connections))
        paused = {"ALERTFLOW_WORKERS__EMAIL": "0"}
        started = time.monotonic()
        (workdir / "publish").mkdir()
        publisher = await Counted.start(workdir / "publish", config_file, publish_url, paused)
        start_seconds = time.monotonic() - started
        try:
            publish = await publish_window(publisher, total)
        finally:
            publisher.target.stop()
        (workdir / "delivery").mkdir()
        deliverer = await Counted.start(workdir / "delivery", config_file, storage_url, {})
        try:
            # Queued by the counting server itself, uncounted, for a time after it has done so.
            due = time.time() + QUEUE_SECONDS + total * QUEUE_SECONDS_PER_EMAIL
            await enqueue(deliverer.target, total, phase=PHASE, send_at=iso(due))
            wanted = [address(PHASE, i) for i in range(total)]
            delivery = await delivery_window(deliverer, sink, wanted, due)
        finally:
            deliverer.target.stop()
    finally:
        await sink.stop()
        if storage_url:
            await asyncio.to_thread(publish_schema, storage_url, False)
    results = {
        "instructions_count": total,
        "instructions_per_publish_m": publish / total / 1e6,
        "instructions_per_email_m": delivery / total / 1e6,
        "instructions_storage": "postgresql" if storage_url else "sqlite",
    }
    report(
        f"instructions (valgrind callgrind), {total} of each, {results['instructions_storage']}",
        [
            ("per publish (workers paused)", f"{results['instructions_per_publish_m']:.3f} M"),
            ("per email delivered to the sink", f"{results['instructions_per_email_m']:.3f} M"),
            ("server start under callgrind", f"{start_seconds:.0f} s"),
        ],
    )
    return results


def publish_schema(storage_url: str, create: bool) -> str:
    """Drop the publish window's schema and, if ``create``, make it anew; the URL ([storage]
    url takes one) whose tables go there."""
    from ..storage.postgres import scratch_schema  # psycopg, only when PostgreSQL is benched

    scratch_schema(storage_url, PUBLISH_SCHEMA, create)
    parts = urlsplit(storage_url)
    query = [*parse_qsl(parts.query), ("options", f"-c search_path={PUBLISH_SCHEMA}")]
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


async def publish_window(server: Counted, total: int) -> int:
    await closed_loop(server.target, min(WARMUP, total), CLIENTS)
    await server.on()
    run = await closed_loop(server.target, total, CLIENTS)
    counted = await server.off()
    if run.errors:
        raise RuntimeError(f"{run.errors} of the counted publishes failed")
    return counted


async def delivery_window(server: Counted, sink: Sink, wanted: list[str], due: float) -> int:
    if time.time() > due - 0.5 or any(address in sink.arrivals for address in wanted):
        raise RuntimeError("queueing the backlog took until it fell due: nothing to count from")
    await asyncio.sleep(due - 0.5 - time.time())
    await server.on()
    await sink.until_arrived(wanted, len(wanted) * DELIVERY_SECONDS_PER_EMAIL + READY_SECONDS)
    counted = await server.off()
    _, duplicates, missing = sink.tally(wanted)
    if missing or duplicates:
        raise RuntimeError(f"of {len(wanted)} emails {missing} did not arrive and {duplicates} arrived twice")
    return counted


async def instructions_bench(args: Any) -> dict[str, Any]:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="alertflow-bench-instructions-") as tmp:
        return await instructions_run(Path(tmp), args.instructions, args.smtp_connections, args.storage_url)
