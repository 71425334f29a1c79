"""``alertflow bench --digest N``: N events published as digests, one per recipient.

The events go to ``--digest-recipients`` recipients in turn, under one digest key with a
window far longer than the run, so every window stays open while they are published: the
publish rate and latency measured are those with digests open (each publish joins its
recipient's window in the writer). Each window's ``max_events`` is its share of the events,
so the last event closes it; the run then waits until every digest is sent, and checks
that each rendered all of its events (the subject counts them).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import click

from ..intake.options import MAX_DIGEST_EVENTS
from .bench import PUBLISH, Run, Target, _headers, p50_p99, pct, report

# Longer than any run: the windows close on max_events, never on time.
WINDOW_SECONDS = 24 * 3600
# How long the digests may take to be sent after the last event before the run gives up.
SEND_DEADLINE_SECONDS = 300.0
POLL_SECONDS = 0.1


def event(i: int, recipients: int, per_recipient: int) -> dict[str, Any]:
    return {
        "to": {"email": f"digest{i % recipients}@example.com"},
        "content": {
            "email": {
                "subject": "{{ events | length }} new comments",
                "text": "{% for e in events %}{{ e.n }} {% endfor %}",
            }
        },
        "data": {"n": i},
        "digest": {"key": "bench", "window_seconds": WINDOW_SECONDS, "max_events": per_recipient},
    }


def shares(events: int, recipients: int) -> int:
    """Each recipient's events; a usage error (exit 2) when a digest could not hold them."""
    per = events // max(recipients, 1)
    if not 2 <= per <= MAX_DIGEST_EVENTS:
        raise click.BadParameter(f"--digest / --digest-recipients must be 2 to {MAX_DIGEST_EVENTS} events each")
    return per


def scenario(events: int, recipients: int, concurrency: int) -> Callable[[Target], Awaitable[dict[str, Any]]]:
    """The section ``alertflow bench`` runs for ``--digest``, checked before the server starts."""
    shares(events, recipients)
    return functools.partial(digest_run, events=events, recipients=recipients, concurrency=concurrency)


async def digest_run(target: Target, events: int, recipients: int, concurrency: int) -> dict[str, Any]:
    per = shares(events, recipients)
    total = per * recipients
    run, digests = Run(), set[str]()
    counter = iter(range(total))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:

        async def client() -> None:
            for i in counter:
                sent = time.perf_counter()
                async with http.post(
                    target.url + PUBLISH, json=event(i, recipients, per), headers=_headers(target)
                ) as resp:
                    if resp.status != 202:
                        run.errors += 1
                        continue
                    digests.add((await resp.json())["notifications"][0]["digest_id"])
                run.latencies.append(time.perf_counter() - sent)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        run.elapsed = time.perf_counter() - started
        last_event = time.perf_counter()
        subjects = await _until_sent(http, target, digests)
        sent_after = time.perf_counter() - last_event
    complete = sum(1 for s in subjects if s == f"{per} new comments")
    results = {
        "digest_events": total,
        "digest_recipients": recipients,
        "digest_notifications": len(digests),
        "digest_complete": complete,
        "digest_publish_per_s": len(run.latencies) / run.elapsed,
        "digest_publish_p50_ms": pct(run.latencies, 50) * 1000,
        "digest_publish_p99_ms": pct(run.latencies, 99) * 1000,
        "digest_sent_after_s": sent_after,
    }
    report(
        f"digest: {total} events to {recipients} recipients, {concurrency} clients",
        [
            ("accepted publishes/s, windows open", f"{results['digest_publish_per_s']:.0f}"),
            ("publish latency p50 / p99", p50_p99(run.latencies)),
            ("digest notifications", f"{len(digests)} ({complete} with all {per} events)"),
            ("all sent after the last event", f"{sent_after:.2f} s"),
            ("errors", str(run.errors)),
        ],
    )
    return results


async def _until_sent(http: aiohttp.ClientSession, target: Target, digests: set[str]) -> list[str]:
    """Wait until every digest is sent; the subjects its email went out with."""
    pending = set(digests)
    deadline = time.perf_counter() + SEND_DEADLINE_SECONDS
    while pending and time.perf_counter() < deadline:
        for nid in list(pending):
            async with http.get(f"{target.url}/v1/notifications/{nid}", headers=_headers(target)) as resp:
                if (await resp.json())["status"] in ("sent", "delivered", "failed", "dead"):
                    pending.discard(nid)
        if pending:
            await asyncio.sleep(POLL_SECONDS)
    url = f"{target.url}/v1/outbox?channel=email&limit={min(max(len(digests), 1), 500)}"
    async with http.get(url, headers=_headers(target)) as resp:
        return [item["content"]["subject"] for item in (await resp.json())["items"]]
