"""Prometheus text exposition: counters kept in process, gauges read at scrape time."""

from __future__ import annotations

import asyncio
import contextlib
import math
import resource
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Iterable

from aiohttp import web

from ..delivery.queue import Decision, Job
from ..storage import stats
from ..storage.database import Database

STATES = {0: "ready", 1: "leased", 2: "waiting"}
# How often the loop-lag probe wakes: 20 times a second sees a stall of a few tens of ms and
# costs nothing measurable.
LAG_PROBE_SECONDS = 0.05
# Samples the lag figures cover: the last minute at the probe's rate.
LAG_WINDOW = 1200


class LoopLag:
    """How late the event loop runs a timer: every handler waits at least this long for its
    turn. A task sleeps LAG_PROBE_SECONDS and records how much later than asked it wakes."""

    def __init__(self) -> None:
        self.samples: deque[float] = deque(maxlen=LAG_WINDOW)
        # Set after every sample: a test or a caller can wait for the next one.
        self.sampled = asyncio.Event()

    async def running(self, app: web.Application) -> AsyncIterator[None]:
        """cleanup_ctx: the probe runs while the app does."""
        probe = asyncio.create_task(self._probe(), name="loop-lag-probe")
        yield
        probe.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await probe

    async def _probe(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            asked = loop.time() + LAG_PROBE_SECONDS
            await asyncio.sleep(LAG_PROBE_SECONDS)
            self.samples.append(max(0.0, loop.time() - asked))
            self.sampled.set()
            self.sampled.clear()

    def max(self) -> float:
        return max(self.samples, default=0.0)

    def p99(self) -> float:
        if not self.samples:
            return 0.0
        ordered = sorted(self.samples)
        return ordered[math.ceil(0.99 * len(ordered)) - 1]


class Metrics:
    def __init__(self) -> None:
        self.decisions: Counter[tuple[str, str]] = Counter()
        self.purged: Counter[str] = Counter()  # rows the retention purge deleted, per kind
        self.started = time.time()
        self.loop_lag = LoopLag()

    def on_decision(self, job: Job, decision: Decision) -> None:
        self.decisions[(job.channel, decision.status)] += 1

    async def render(self, database: Database, commits: int) -> str:
        queue = await stats.queue_counts(database)
        lines: list[str] = []
        metric(
            lines,
            "alertflow_delivery_decisions_total",
            "counter",
            "Attempt outcomes by channel and resulting status.",
            ((f'channel="{c}",status="{s}"', n) for (c, s), n in sorted(self.decisions.items())),
        )
        metric(
            lines,
            "alertflow_queue_jobs",
            "gauge",
            "Undelivered jobs by channel and queue state.",
            ((f'channel="{c}",state="{STATES.get(s, s)}"', n) for (c, s), n in queue.jobs.items()),
        )
        metric(
            lines,
            "alertflow_dead_letters",
            "gauge",
            "Deliveries in the dead-letter queue.",
            [("", queue.dead)],
        )
        metric(
            lines,
            "alertflow_retention_purged_rows_total",
            "counter",
            "Rows the retention purge deleted, by kind (notifications: with their deliveries).",
            ((f'kind="{k}"', n) for k, n in sorted(self.purged.items())),
        )
        metric(
            lines, "alertflow_writer_commits_total", "counter", "Group commits by the single writer.", [("", commits)]
        )
        metric(
            lines,
            "alertflow_uptime_seconds",
            "gauge",
            "Seconds since the server started.",
            [("", round(time.time() - self.started, 3))],
        )
        window = f"over the last {LAG_WINDOW} samples, {LAG_PROBE_SECONDS * LAG_WINDOW:g} s"
        metric(
            lines,
            "alertflow_event_loop_lag_max_seconds",
            "gauge",
            f"Longest delay of the event loop in running a due timer, {window}.",
            [("", round(self.loop_lag.max(), 6))],
        )
        metric(
            lines,
            "alertflow_event_loop_lag_p99_seconds",
            "gauge",
            f"99th percentile of that delay, {window}.",
            [("", round(self.loop_lag.p99(), 6))],
        )
        metric(
            lines,
            "alertflow_max_rss_bytes",
            "gauge",
            "Peak resident memory of the process.",
            [("", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)],
        )
        return "\n".join(lines) + "\n"


def metric(lines: list[str], name: str, kind: str, help_text: str, samples: Iterable[tuple[str, float]]) -> None:
    lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{{{labels}}} {value}" if labels else f"{name} {value}" for labels, value in samples]
