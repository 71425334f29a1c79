"""``alertflow bench --drain N``: delivery throughput on its own, from a backlog of N.

N emails are published through the ordinary publish path (lists of up to 1,000 recipients)
to a server whose email workers are paused (``[workers] email = 0``), so all N wait in the
queue. That server stops, and a second one starts on the same data with its workers: its
pools find the whole backlog at once, with no publishing beside them. The figures come from
the deliveries' own times, so the second server's start-up is not counted: deliveries/s
from the first send to the last, each delivery's time in queue from that first send (all
were queued before it), the writer's commits per delivery, and server RSS before and after.
Every delivery is checked against what the outbox captured: sent exactly once.
``bench --smtp`` drains a backlog to its SMTP sink through the same sequence (``from_backlog``).

``--drain-templates K`` gives the emails K distinct inline templates (rendered per send, as a
tenant's own would be) and ``--drain-checkpoint C`` also reads server RSS once C are
delivered: issue 19's memory target compares RSS after 1,000,000 deliveries that used
10,000 distinct inline templates with RSS after the first 10,000.

The server runs on a temporary data dir, or a new ``--data-dir``, or on ``--storage-url``
(an empty database): an initialised one has no owner key to show the benchmark.
"""

from __future__ import annotations

import asyncio
import re
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from ..intake.publish import MAX_RECIPIENTS
from .bench import PUBLISH, Target, _headers, address, backlog, embedded_server, p50_p99, pct, report, sent_times

# Publish requests in flight while the backlog is built: enough to keep the writer's groups full.
ENQUEUE_CLIENTS = 4
# How long the drain may take before the benchmark gives up: generous per delivery, as a
# loaded machine delivers a few hundred a second.
DRAIN_SECONDS_MIN = 60.0
DRAIN_SECONDS_PER_DELIVERY = 0.02
POLL_SECONDS = 0.05
OUTBOX_PAGE = 500
_COMMITS = re.compile(r"^alertflow_writer_commits_total (\S+)$", re.MULTILINE)


def recipients(start: int, stop: int, template: int | None = None, phase: str = "drain") -> dict[str, Any]:
    """A publish of emails ``start`` to ``stop`` of ``phase``: literal content, or inline
    template number ``template``."""
    body: dict[str, Any] = {
        "to": [{"email": address(phase, i)} for i in range(start, stop)],
        "content": {"email": {"subject": "Backlog", "text": "Your disk is 95% full."}},
    }
    if template is not None:
        text = f"Your disk {{{{ disk }}}} is {{{{ pct }}}}% full ({template})."
        body.update(content={"email": {"subject": f"Backlog {template}", "text": text}}, data={"disk": "/", "pct": 95})
    return body


def list_size(total: int, templates: int) -> int:
    """Recipients per publish: a template per publish, so short lists when many templates."""
    return MAX_RECIPIENTS if not templates else max(1, min(MAX_RECIPIENTS, total // templates))


async def enqueue(
    target: Target, total: int, templates: int = 0, phase: str = "drain", send_at: str | None = None
) -> tuple[list[str], float]:
    """Publish ``total`` emails to ``address(phase, 0..total-1)``, for ``send_at`` (RFC 3339)
    if given; their notification ids and the seconds it took."""
    size = list_size(total, templates)
    chunks = iter(enumerate(range(0, total, size)))
    ids: list[str] = []
    async with aiohttp.ClientSession() as http:

        async def client() -> None:
            for n, start in chunks:
                body = recipients(start, min(total, start + size), n % templates if templates else None, phase)
                if send_at is not None:
                    body["send_at"] = send_at
                async with http.post(target.url + PUBLISH, json=body, headers=_headers(target)) as resp:
                    if resp.status != 202:
                        raise RuntimeError(f"publish refused: {resp.status} {await resp.text()}")
                    ids.extend(n["id"] for n in (await resp.json())["notifications"])

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(ENQUEUE_CLIENTS)))
        return ids, time.perf_counter() - started


async def commits(target: Target) -> int:
    async with aiohttp.ClientSession() as http, http.get(f"{target.url}/metrics") as resp:
        found = _COMMITS.search(await resp.text())
    return int(float(found.group(1))) if found else 0


async def until_drained(target: Target, total: int, checkpoint: int = 0) -> float | None:
    """Wait for the backlog to drain; server RSS (MiB) at the first look (one each
    ``POLL_SECONDS``) after ``checkpoint`` were delivered, if asked."""
    started = time.monotonic()
    deadline = started + max(DRAIN_SECONDS_MIN, total * DRAIN_SECONDS_PER_DELIVERY)
    rss: float | None = None
    while True:
        left = await backlog(target)
        if checkpoint and rss is None and total - left >= checkpoint:
            rss = target.rss_mib()
        if not left:
            return rss
        if time.monotonic() > deadline:
            raise RuntimeError(f"the backlog did not drain within {deadline - started:.0f} s")
        await asyncio.sleep(POLL_SECONDS)


async def captured(target: Target) -> list[str]:
    """The notification id of every email the outbox captured (one per send)."""
    found: list[str] = []
    cursor: str | None = None
    async with aiohttp.ClientSession() as http:
        while True:
            url = f"{target.url}/v1/outbox?channel=email&limit={OUTBOX_PAGE}" + (f"&cursor={cursor}" if cursor else "")
            async with http.get(url, headers=_headers(target)) as resp:
                page = await resp.json()
            found += [item["notification_id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                return found


@dataclass
class Backlog:
    """A server with its email workers, started on a backlog queued while they were paused."""

    target: Target
    ids: list[str]  # the queued notifications
    enqueue_seconds: float
    queued: int  # jobs waiting when the workers started: all of them, as none could be sent


@asynccontextmanager
async def from_backlog(
    workdir: Path,
    total: int,
    config_file: Path | None = None,
    data_dir: Path | None = None,
    storage_url: str | None = None,
    templates: int = 0,
    phase: str = "drain",
) -> AsyncIterator[Backlog]:
    """``total`` emails published (``enqueue``) to a server whose email workers are paused,
    which then stops; a second one starts on the same data with its workers and the whole
    backlog before it, and stops when the block ends. The pause is set in the environment,
    so it overrides whatever ``config_file`` says."""
    paused = await embedded_server(workdir, config_file, data_dir, storage_url, env={"ALERTFLOW_WORKERS__EMAIL": "0"})
    try:
        ids, enqueue_seconds = await enqueue(paused, total, templates, phase)
        queued = await backlog(paused)
    finally:
        paused.stop()
    target = await embedded_server(workdir, config_file, data_dir, storage_url)
    target.api_key = paused.api_key  # the data dir is initialised already: no new key
    try:
        yield Backlog(target, ids, enqueue_seconds, queued)
    finally:
        target.stop()


async def drain_run(
    workdir: Path,
    total: int,
    config_file: Path | None,
    data_dir: Path | None,
    storage_url: str | None,
    templates: int = 0,
    checkpoint: int = 0,
) -> dict[str, Any]:
    async with from_backlog(workdir, total, config_file, data_dir, storage_url, templates) as queue:
        target = queue.target
        rss_before, commits_before = target.rss_mib(), await commits(target)
        rss_checkpoint = await until_drained(target, total, checkpoint)
        rss_after, commits_after = target.rss_mib(), await commits(target)
        times = await sent_times(target, queue.ids)
        sends = await captured(target)
    ids, queued = queue.ids, queue.queued
    sent = sorted(at for _, at in times.values() if at is not None)
    first, last = (sent[0], sent[-1]) if sent else (float("nan"), float("nan"))
    waits = [at - first for at in sent]
    per_id = Counter(sends)
    once = sum(1 for nid in ids if per_id[nid] == 1)
    results = {
        "drain_deliveries": total,
        "drain_queued_before": queued,
        "drain_enqueue_per_s": total / queue.enqueue_seconds,
        "drain_per_s": (len(sent) - 1) / (last - first) if len(sent) > 1 and last > first else float("nan"),
        "drain_seconds": last - first,
        "drain_queue_p50_ms": pct(waits, 50) * 1000,
        "drain_queue_p99_ms": pct(waits, 99) * 1000,
        "drain_sent": len(sent),
        "drain_sent_once": once,
        "drain_captured": len(sends),
        "drain_commits_per_delivery": (commits_after - commits_before) / max(total, 1),
        "drain_rss_before_mib": rss_before,
        "drain_rss_after_mib": rss_after,
        "drain_templates": min(templates, -(-total // list_size(total, templates))) if templates else 0,
        "drain_checkpoint": checkpoint,
        "drain_rss_checkpoint_mib": rss_checkpoint,
    }
    report(
        f"drain: {total} emails queued with the email workers paused, then delivered from the backlog",
        [
            (f"enqueued/s (lists of {list_size(total, templates):,})", f"{results['drain_enqueue_per_s']:.0f}"),
            ("queued when the workers started", str(queued)),
            ("delivered/s (first to last send)", f"{results['drain_per_s']:.0f}"),
            ("in queue since 1st send p50 / p99", p50_p99(waits)),
            ("sent exactly once", f"{once} of {total} ({len(sends)} captured by the outbox)"),
            ("writer commits per delivery", f"{results['drain_commits_per_delivery']:.3f}"),
            ("server RSS before / after", f"{rss_before:.0f} / {rss_after:.0f} MiB" if rss_before else "n/a"),
            ("distinct inline templates", str(results["drain_templates"] or "none (literal content)")),
            (
                f"server RSS after {checkpoint} delivered",
                f"{rss_checkpoint:.0f} MiB" if rss_checkpoint is not None else "n/a",
            ),
        ],
    )
    return results


async def drain_bench(args: Any) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="alertflow-bench-drain-") as tmp:
        return await drain_run(
            Path(tmp),
            args.drain,
            args.config_file,
            args.data_dir,
            args.storage_url,
            args.drain_templates,
            args.drain_checkpoint,
        )
