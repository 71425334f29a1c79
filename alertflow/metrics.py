"""Prometheus text exposition: counters kept in process, gauges read at scrape time."""

from __future__ import annotations

import resource
import time
from collections import Counter
from collections.abc import Iterable

from .queue import Decision, Job
from .storage.database import Database

STATES = {0: "ready", 1: "leased", 2: "waiting"}


class Metrics:
    def __init__(self) -> None:
        self.decisions: Counter[tuple[str, str]] = Counter()
        self.started = time.time()

    def on_decision(self, job: Job, decision: Decision) -> None:
        self.decisions[(job.channel, decision.status)] += 1

    async def render(self, database: Database, commits: int) -> str:
        jobs = await database.fetchall("SELECT channel, state, COUNT(*) AS n FROM jobs GROUP BY channel, state")
        dead = await database.fetchone("SELECT COUNT(*) AS n FROM dead_letters")
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
            ((f'channel="{r["channel"]}",state="{STATES.get(r["state"], r["state"])}"', r["n"]) for r in jobs),
        )
        metric(
            lines,
            "alertflow_dead_letters",
            "gauge",
            "Deliveries in the dead-letter queue.",
            [("", dead["n"] if dead else 0)],
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
