"""Sending one claimed job: build the message, try its providers, decide what happens next.

``decide`` is the one function that turns whatever a provider did into one state change;
``Deliverer.deliver`` applies it and writes one log line.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from . import queue
from .config import QueueConfig
from .message import Device, Message, Recipient
from .outcomes import DeliveryError, PermanentFailure, RateLimited, RetryLater, Sent
from .providers import Provider
from .queue import Decision, Job
from .storage.database import Database

log = logging.getLogger("alertflow.delivery")

Render = Callable[[Job, Recipient, dict[str, Any] | None], Awaitable[dict[str, Any]]]
ProvidersFor = Callable[[str, str], Awaitable[list[Provider]]]
Listener = Callable[[Job, Decision], None]


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^(attempt-1))].

    Full jitter spreads a burst of failures (a provider outage) over the whole window instead
    of having them all retry at the same instant when it recovers.
    """
    return rng.uniform(0, min(cap, base * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class Attempted:
    """What happened when one provider was tried."""

    provider: str | None
    result: Sent | BaseException


def decide(job: Job, tried: list[Attempted], policy: QueueConfig, now: float, rng: random.Random) -> Decision:
    """The one state change an attempt leads to (the last provider tried speaks for it)."""
    last = tried[-1]
    earlier = tuple((a.provider or "?", _error_text(a.result)) for a in tried[:-1])
    result = last.result
    if isinstance(result, Sent):
        status = "delivered" if result.delivered else "sent"
        return Decision(status, status, last.provider, result.provider_message_id, failed_over=earlier)
    error = _error_text(result)
    if isinstance(result, PermanentFailure):
        return Decision("failed", "failed", last.provider, error=error, failed_over=earlier)
    outcome = "rate_limited" if isinstance(result, RateLimited) else "retry"
    if job.attempt >= policy.max_attempts:
        return Decision("dead", outcome, last.provider, error=error, failed_over=earlier)
    delay = backoff_delay(job.attempt, policy.backoff_base_seconds, policy.backoff_max_seconds, rng)
    if isinstance(result, RetryLater) and result.after is not None:
        # The provider said when; waiting less would only be refused again.
        delay = min(max(delay, result.after), max(policy.backoff_max_seconds, result.after))
    return Decision("queued", outcome, last.provider, error=error, retry_at=now + delay, failed_over=earlier)


def _error_text(result: Sent | BaseException) -> str:
    if isinstance(result, DeliveryError):
        return result.error
    if isinstance(result, Sent):
        return ""
    # An exception outside the closed set is a provider bug: retry, and say what it was.
    return f"{type(result).__name__}: {result}"


def recipient_for(job: Job, user: dict[str, object] | None) -> Recipient:
    """The recipient as addressed, completed from the user's record when there is one."""
    r = job.recipient
    devices: list[Device] = []
    if r.get("push_token"):
        devices.append(Device("fcm", token=r["push_token"]))
    if user:
        devices += [Device("fcm", token=t) for t in user["push_tokens"]]
        devices += [Device("webpush", subscription=s) for s in user["webpush"]]
    return Recipient(
        user_id=job.user_id,
        email=r.get("email") or (user or {}).get("email"),  # type: ignore[arg-type]
        phone=r.get("phone") or (user or {}).get("phone"),  # type: ignore[arg-type]
        name=r.get("name") or (user or {}).get("name"),  # type: ignore[arg-type]
        locale=(user or {}).get("locale"),  # type: ignore[arg-type]
        timezone=(user or {}).get("timezone"),  # type: ignore[arg-type]
        devices=tuple(devices),
    )


class Deliverer:
    """Sends claimed jobs and records their outcomes."""

    def __init__(
        self,
        database: Database,
        policy: QueueConfig,
        providers_for: ProvidersFor,
        render: Render,
        clock: Callable[[], float],
        rng: random.Random | None = None,
    ) -> None:
        self.database = database
        self.policy = policy
        self.providers_for = providers_for
        self.render = render
        self.clock = clock
        self.rng = rng or random.Random()
        # Called after each decision is committed (metrics, live updates, tests waiting on work).
        self.listeners: list[Listener] = []

    async def deliver(self, job: Job) -> Decision:
        tried = await self._attempt(job)
        decision = decide(job, tried, self.policy, self.clock(), self.rng)
        await self.database.write(lambda conn: queue.record(conn, job, decision, self.clock()))
        for listener in self.listeners:
            listener(job, decision)
        log_level = logging.INFO if decision.status in ("sent", "delivered", "queued") else logging.WARNING
        if log.isEnabledFor(log_level):
            log.log(
                log_level,
                decision.status,
                extra={
                    "event": "delivery." + decision.status,
                    "tenant_id": job.tenant_id,
                    "notification_id": job.notification_id,
                    "delivery_id": job.delivery_id,
                    "channel": job.channel,
                    "attempt": job.attempt,
                    "provider": decision.provider,
                    "error": decision.error,
                },
            )
        return decision

    async def _attempt(self, job: Job) -> list[Attempted]:
        try:
            user = await self._user(job)
            if job.user_id and user is None:
                return [Attempted(None, PermanentFailure("unknown_user: the user was deleted"))]
            recipient = recipient_for(job, user)
            content = await self.render(job, recipient, user)
            providers = await self.providers_for(job.tenant_id, job.channel)
        except DeliveryError as exc:
            return [Attempted(None, exc)]
        if not providers:
            return [Attempted(None, PermanentFailure(f"no provider is configured for channel {job.channel}"))]
        message = Message(
            tenant_id=job.tenant_id,
            notification_id=job.notification_id,
            delivery_id=job.delivery_id,
            channel=job.channel,
            recipient=recipient,
            content=content,
            category=job.category,
            priority=job.priority,
            attempt=job.attempt,
        )
        tried: list[Attempted] = []
        for provider in providers:
            try:
                tried.append(Attempted(provider.type_name, await provider.send(message)))
                break
            except PermanentFailure as exc:
                tried.append(Attempted(provider.type_name, exc))
                break
            except Exception as exc:  # retryable or unknown: the next provider may do better
                tried.append(Attempted(provider.type_name, exc))
        return tried

    async def _user(self, job: Job) -> dict[str, object] | None:
        if not job.user_id:
            return None
        row = await self.database.fetchone(
            "SELECT * FROM users WHERE tenant_id = ? AND user_id = ?", (job.tenant_id, job.user_id)
        )
        if row is None:
            return None
        user = dict(row)
        for column in ("push_tokens", "webpush", "data"):
            user[column] = json.loads(user[column])
        return user
