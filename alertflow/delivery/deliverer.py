"""Sending one claimed job: build the message, try its providers, decide what happens next.

``decide`` is the one function that turns whatever a provider did into one state change;
``Deliverer.deliver`` applies it and writes one log line.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from ..config import QueueConfig
from ..message import Device, Message, Recipient
from ..outcomes import (
    Deferred,
    DeliveryError,
    PermanentFailure,
    RateLimited,
    RetryLater,
    Sent,
    Suppressed,
    combine_device_outcomes,
)
from ..providers.channel_setup import Handle
from ..recipients import directory, unsubscribe
from ..storage import deliveries, digests, inbox_items, jobs, users
from ..storage.database import Database, StorageFull, Tx, isolated
from . import status_events
from .queue import Decision, Job

log = logging.getLogger("alertflow.delivery")

Render = Callable[[Job, Recipient, users.User | None, dict[str, str]], Awaitable[dict[str, Any]]]
UnsubscribeUrl = Callable[[str, str | None, str, float], Awaitable[str | None]]
# The user's hosted preference page (tenant, user, now), or None without a user.
PreferencesUrl = Callable[[str, str | None, float], str | None]
ProvidersFor = Callable[[str, str], Awaitable[list[Handle]]]
# Why (tenant, channel, address) is on the tenant's suppression list, or None.
Listed = Callable[[str, str, str], Awaitable[str | None]]
# The longest a send waits for its provider's rate limit before going back to the queue.
MAX_PACE_SECONDS = 2.0
Listener = Callable[[Job, Decision], None]
# An outcome the full disk refused is written again this often, for at most this share of
# the lease: half leaves room for a slow send before it and the write after it.
RECORD_RETRY_SECONDS = 1.0
RECORD_PATIENCE = 0.5


def backoff_delay(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2^(attempt-1))].

    Full jitter spreads a burst of failures (a provider outage) over the whole window instead
    of having them all retry at the same instant when it recovers.
    """
    return rng.uniform(0, min(cap, base * 2 ** (attempt - 1)))


@dataclass(frozen=True)
class Attempt:
    """One delivery attempt: its result, the provider that gave it, and the tries before it
    in the same attempt as (provider, outcome, error) — fail-overs, other device kinds."""

    provider: str | None
    result: Sent | DeliveryError
    earlier: tuple[tuple[str, str, str | None], ...] = ()


@dataclass(frozen=True)
class Outcome:
    """An attempt's decision, ready to be recorded: by ``deliver`` at once, or by a pool
    together with the others of its cycle (delivery/workers.py)."""

    job: Job
    decision: Decision
    pruned: tuple[Device, ...]  # devices the provider found gone
    at: float  # when it was decided: the time its rows carry
    record_by: float  # past this, a refused write is given up: the lease is near its end


def as_outcome(exc: BaseException) -> DeliveryError:
    """An exception outside the closed set is a provider bug: retry, and say what it was."""
    return exc if isinstance(exc, DeliveryError) else RetryLater(f"{type(exc).__name__}: {exc}")


def outcome_name(result: Sent | DeliveryError) -> str:
    if isinstance(result, Sent):
        return "delivered" if result.delivered else "sent"
    if isinstance(result, PermanentFailure):
        return "failed"
    if isinstance(result, Deferred):
        return "deferred"
    if isinstance(result, Suppressed):
        return "suppressed"
    return "rate_limited" if isinstance(result, RateLimited) else "retry"


def decide(job: Job, attempt: Attempt, policy: QueueConfig, now: float, rng: random.Random) -> Decision:
    """The one state change an attempt leads to."""
    result, outcome = attempt.result, outcome_name(attempt.result)
    who, earlier = attempt.provider, attempt.earlier
    if isinstance(result, Sent):
        return Decision(outcome, outcome, who, result.provider_message_id, earlier=earlier)
    if isinstance(result, PermanentFailure):
        return Decision("failed", outcome, who, error=result.error, earlier=earlier)
    if isinstance(result, Suppressed):
        return Decision("suppressed", outcome, error=result.error)
    if isinstance(result, Deferred):  # not tried: wait for a provider, spend no attempt
        return Decision("deferred", outcome, who, error=result.error, retry_at=now + (result.after or 0.0))
    if job.attempt >= policy.max_attempts:
        return Decision("dead", "dead", who, error=result.error, earlier=earlier)  # the try that ran out
    delay = backoff_delay(job.attempt, policy.backoff_base_seconds, policy.backoff_max_seconds, rng)
    if isinstance(result, RetryLater) and result.after is not None:
        # The provider said when; waiting less would only be refused again.
        delay = min(max(delay, result.after), max(policy.backoff_max_seconds, result.after))
    return Decision("queued", outcome, who, error=result.error, retry_at=now + delay, earlier=earlier)


def _deferred(results: list[Sent | DeliveryError]) -> Deferred:
    """Every provider held back (each result a Deferred): wait for the first to be free."""
    waits = [r.after for r in results if isinstance(r, Deferred) and r.after is not None]
    error = "; ".join(dict.fromkeys(r.error for r in results if isinstance(r, DeliveryError)))
    return Deferred(error, after=min(waits, default=None))


def route(message: Message, handles: list[Handle]) -> list[tuple[Message, list[Handle]]]:
    """Push goes per device kind to the providers serving that kind (FCM tokens, browser
    subscriptions), each kind with its own fail-over; other channels are one group."""
    devices = message.recipient.devices
    if message.channel != "push" or not devices:
        return [(message, handles)]
    groups = []
    for kind in dict.fromkeys(d.kind for d in devices):
        recipient = dataclasses.replace(message.recipient, devices=tuple(d for d in devices if d.kind == kind))
        groups.append((dataclasses.replace(message, recipient=recipient), [h for h in handles if h.serves(kind)]))
    return groups


def _fallback_of(job: Job) -> dict[str, Any] | None:
    """The fallback this job's first attempt is, if it is one (a retry has been decided)."""
    if job.options is None or job.attempt != 1:
        return None
    fallback: dict[str, Any] | None = job.options.get("fallback")
    return fallback if fallback is not None and job.channel in fallback["channels"] else None


def fallback_why(fallback: dict[str, Any]) -> str:
    return f"{'/'.join(fallback['watch'])} not {fallback['unless']} within {fallback['after_seconds']} s"


def recipient_for(r: dict[str, Any], user_id: str | None, user: users.User | None) -> Recipient:
    """The recipient as addressed (``r``: email, phone, push_token, name), completed from the
    user's record when there is one."""
    devices: list[Device] = []
    if r.get("push_token"):
        devices.append(Device("fcm", token=r["push_token"]))
    if user:
        devices += [Device("fcm", token=t) for t in user.push_tokens]
        devices += [Device("webpush", subscription=s) for s in user.webpush]
    return Recipient(
        user_id=user_id,
        email=r.get("email") or (user.email if user else None),
        phone=r.get("phone") or (user.phone if user else None),
        name=r.get("name") or (user.name if user else None),
        locale=user.locale if user else None,
        timezone=user.timezone if user else None,
        devices=tuple(devices),
    )


async def call(handle: Handle, message: Message) -> Sent | DeliveryError:
    """One send through one provider, whatever it raises sorted into the closed set."""
    try:
        return await handle.provider.send(message)
    except Exception as exc:
        return as_outcome(exc)


class Deliverer:
    """Sends claimed jobs and records their outcomes."""

    def __init__(
        self,
        database: Database,
        policy: QueueConfig,
        providers_for: ProvidersFor,
        render: Render,
        clock: Callable[[], float],
        unsubscribe_url: UnsubscribeUrl,
        rng: random.Random | None = None,
        listed: Listed | None = None,
        preferences_url: PreferencesUrl | None = None,
    ) -> None:
        self.database = database
        self.policy = policy
        self.providers_for = providers_for
        self.render = render
        self.clock = clock
        self.unsubscribe_url = unsubscribe_url
        self.rng = rng or random.Random()
        self.listed = listed
        self.preferences_url = preferences_url
        # Called after each decision is committed (metrics, live updates, tests waiting on work).
        self.listeners: list[Listener] = []

    async def deliver(self, job: Job) -> Decision:
        """Send one job and record its outcome in a write of its own (pools batch theirs)."""
        outcome = await self.attempt(job)
        await self._record(partial(self.apply, outcome=outcome), outcome.record_by)
        self.finish(outcome)
        return outcome.decision

    async def attempt(self, job: Job) -> Outcome:
        """Send the job and decide what happens next; nothing is recorded yet."""
        # The lease runs from the claim, just before: recording may be retried until then.
        record_by = self.clock() + self.policy.lease_seconds * RECORD_PATIENCE
        fallback = _fallback_of(job)
        unneeded = await self._unneeded(job, fallback) if fallback is not None else None
        pruned: tuple[Device, ...] = ()
        if unneeded is not None:
            decision = Decision("cancelled", "cancelled", error=unneeded)
        else:
            attempt = await self._attempt(job)
            decision = decide(job, attempt, self.policy, self.clock(), self.rng)
            pruned = attempt.result.pruned
            if fallback is not None:  # history says why this channel was used at all
                why = (None, "fallback", fallback_why(fallback))
                decision = dataclasses.replace(decision, earlier=(why, *decision.earlier))
        return Outcome(job, decision, pruned, self.clock(), record_by)

    @classmethod
    def apply(cls, tx: Tx, outcome: Outcome) -> None:
        """Record one outcome (writer): see :meth:`apply_many`."""
        cls.apply_many(tx, [outcome])

    @staticmethod
    def apply_many(tx: Tx, outcomes: list[Outcome]) -> None:
        """Record outcomes (writer): their jobs' next states, histories and statuses, each
        statement once for all of them (jobs.record_all), and the status webhook events they
        make, in the same transaction."""
        jobs.record_all(tx, [(o.job, o.decision, o.at) for o in outcomes])
        for outcome in outcomes:
            job = outcome.job
            status_events.attempted(
                tx, job.tenant_id, job.delivery_id, outcome.decision.status, outcome.at, job.channel
            )
            if outcome.pruned and job.user_id:
                directory.prune_devices(tx, job.tenant_id, job.user_id, job.delivery_id, outcome.pruned, outcome.at)

    @classmethod
    def apply_all(cls, tx: Tx, outcomes: list[Outcome]) -> list[BaseException | None]:
        """Record outcomes in one transaction (writer); one that fails is undone alone, and
        its error is returned in its place (None where recorded)."""
        _, error = isolated(tx, lambda tx: cls.apply_many(tx, outcomes))
        if error is None:
            return [None] * len(outcomes)
        # Rare: the batch was undone as a whole; redo it one outcome at a time to find which.
        return [isolated(tx, partial(cls.apply, outcome=o))[1] for o in outcomes]

    def finish(self, outcome: Outcome) -> None:
        """After the outcome is committed: tell the listeners, write the log line."""
        job, decision = outcome.job, outcome.decision
        for listener in self.listeners:
            listener(job, decision)
        log_level = logging.INFO if decision.status in ("sent", "delivered", "queued", "deferred") else logging.WARNING
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
                    "devices_removed": len(outcome.pruned) or None,
                },
            )

    async def _record(self, apply: Callable[[Tx], None], record_by: float) -> None:
        """Write the outcome; while the disk is full, try again each second as long as the
        job's lease lasts, so a short episode does not send the message twice. Past that
        StorageFull is raised: the lease ends and the job is sent again."""
        while True:
            try:
                await self.database.write(apply)
                return
            except StorageFull:
                if self.clock() + RECORD_RETRY_SECONDS >= record_by:
                    raise
            await asyncio.sleep(RECORD_RETRY_SECONDS)

    async def _unneeded(self, job: Job, fallback: dict[str, Any]) -> str | None:
        """Why a fallback need not go: its watched delivery was read (or delivered) first."""
        if fallback["unless"] == "read":
            at = await inbox_items.read_at(self.database, job.tenant_id, job.user_id, job.notification_id)
        else:
            at = await deliveries.delivered_at(self.database, job.notification_id, fallback["watch"])
        if at is None:
            return None
        return f"fallback not needed: {'/'.join(fallback['watch'])} was {fallback['unless']} first"

    async def _attempt(self, job: Job) -> Attempt:
        try:
            if job.options is not None and "digest_of" in job.options:
                # A digest's template sees every event it collected, oldest first.
                events = await digests.events(self.database, job.notification_id)
                job = dataclasses.replace(job, data={**job.data, "events": events})
            user = await self._user(job)
            if job.user_id and user is None:
                return Attempt(None, PermanentFailure("unknown_user: the user was deleted"))
            recipient = recipient_for(job.recipient, job.user_id, user)
            # Listed since it was queued (publish checks too): a bounce must stop a retry or
            # a scheduled send as well as the next publish.
            address = recipient.email if job.channel == "email" else recipient.phone if job.channel == "sms" else None
            why = await self.listed(job.tenant_id, job.channel, address) if self.listed and address else None
            if why is not None:
                return Attempt(None, Suppressed(why))
            now = self.clock()
            url = await self.unsubscribe_url(job.tenant_id, job.user_id, job.category, now)
            choose = self.preferences_url(job.tenant_id, job.user_id, now) if self.preferences_url else None
            # Always defined, empty where no link applies, so one template serves every category.
            content = await self.render(
                job, recipient, user, {"unsubscribe_url": url or "", "preferences_url": choose or ""}
            )
            handles = await self.providers_for(job.tenant_id, job.channel)
        except Exception as exc:  # a render or set-up problem is this delivery's outcome
            return Attempt(None, as_outcome(exc))
        if not handles:
            return Attempt(None, PermanentFailure(f"no provider is configured for channel {job.channel}"))
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
            headers=unsubscribe.headers(url) if url and job.channel == "email" else {},
            replace_key=job.options.get("replace_key") if job.options is not None else None,
        )
        tries: list[tuple[str, str, str | None]] = []
        results: list[Sent | DeliveryError] = []
        names: list[str] = []  # of the providers tried: a device kind none serves names none
        for group_message, group in route(message, handles):
            result, name = await self._failover(group_message, group, tries)
            results.append(result)
            if name is not None:
                names.append(name)
        if len(results) == 1:
            final: Sent | DeliveryError = results[0]
        elif all(isinstance(r, Deferred) for r in results):
            final = _deferred(results)
        else:
            try:
                final = combine_device_outcomes(results)
            except DeliveryError as exc:
                final = exc
        # The last try is the attempt's own row; the ones before it are kept beside it.
        return Attempt("+".join(dict.fromkeys(names)) or None, final, tuple(tries[:-1]))

    async def _failover(
        self, message: Message, group: list[Handle], tries: list[tuple[str, str, str | None]]
    ) -> tuple[Sent | DeliveryError, str | None]:
        """Try the group's providers in order until one sends or fails for good; the result
        and the name of the provider that gave it (None when no provider serves the group)."""
        if not group:
            return PermanentFailure(f"no provider serves this {message.channel} recipient"), None
        name, mine, results = "", list[tuple[str, str, str | None]](), list[Sent | DeliveryError]()
        for handle in group:
            name = handle.name
            result = await self._try(handle, message)
            results.append(result)
            mine.append((name, outcome_name(result), None if isinstance(result, Sent) else result.error))
            if isinstance(result, Sent | PermanentFailure):
                break
        if results and all(isinstance(r, Deferred) for r in results):
            return _deferred(results), name  # no provider was tried: nothing to record
        if isinstance(result, Deferred):  # an earlier provider was tried: the attempt counts
            result = RetryLater(result.error)
        # A try that handed over to the next provider is recorded as such.
        tries.extend([(n, "failed_over", e) for n, _, e in mine[:-1]] + mine[-1:])
        return result, name

    async def _try(self, handle: Handle, message: Message) -> Sent | DeliveryError:
        wait = handle.bucket.reserve() if handle.bucket is not None else 0.0
        if wait > MAX_PACE_SECONDS and handle.bucket is not None:
            # Holding the lease that long would starve the pool: back to the queue instead.
            handle.bucket.cancel()
            return Deferred(f"{handle.name}: send rate limit", after=wait)
        # Asked only now, when the send will go: a yes in the half-open state is its one trial.
        if not handle.breaker.allow():
            if handle.bucket is not None:
                handle.bucket.cancel()
            return Deferred(f"{handle.name}: circuit open after repeated failures", after=handle.breaker.wait())
        if wait:
            await asyncio.sleep(wait)
        result = await call(handle, message)
        if isinstance(result, RetryLater):
            handle.breaker.failed()
        else:  # sent, or refused for reasons of the message: the provider itself is healthy
            handle.breaker.succeeded()
        return result

    async def _user(self, job: Job) -> users.User | None:
        return await users.get(self.database, job.tenant_id, job.user_id) if job.user_id else None
