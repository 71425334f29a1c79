"""The persistent priority queue's terms: a job's states and priorities, a claimed ``Job`` and
the ``Decision`` an attempt leads to. Its operations are in storage/jobs.py.

Jobs are leased, never deleted on claim: a claimed job keeps its row (state LEASED, ``run_at``
= the lease's end) until its outcome is recorded, so a crash returns it to the queue.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

READY, LEASED, WAITING = 0, 1, 2
PRIORITIES: dict[str, int] = {"low": 0, "medium": 1, "high": 2}
# Deliveries a claim takes at once: amortises the commit without starving other channels.
CLAIM_BATCH = 100


@dataclass(frozen=True)
class Job:
    """A claimed delivery with what is needed to send it."""

    job_id: int
    delivery_id: str
    notification_id: str
    tenant_id: str
    channel: str
    attempt: int  # 1 for the first try
    category: str
    priority: str
    user_id: str | None
    recipient: dict[str, Any]
    content: dict[str, Any] | None
    template: str | None
    template_version: int | None
    data: dict[str, Any]
    # The publish options the deliverer acts on (intake/options.py); None when none was given.
    options: dict[str, Any] | None = None


@dataclass(frozen=True)
class Decision:
    """The one state change an attempt leads to (see deliverer.decide)."""

    status: str  # sent, delivered, queued (retry), deferred (not tried, not counted), failed, dead
    outcome: str  # what the attempt row says: sent, delivered, retry, rate_limited, failed, dead, deferred
    provider: str | None = None
    provider_message_id: str | None = None
    error: str | None = None
    retry_at: float | None = None
    # (provider, outcome, error) of tries earlier in the same attempt: fail-overs, other device kinds.
    earlier: tuple[tuple[str | None, str, str | None], ...] = ()
