"""Deciding, per notification, what its digest, throttle and dedupe options make of it.

What can be decided from the request alone is planned before the write (:func:`prepare`: a
fallback's deliveries, each recipient's key, when a digest would close); whether an event is
a duplicate, over its throttle or joins an open digest is decided in the one writer
transaction (:meth:`Gate.apply`), so concurrent publishes count exactly.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from ..delivery import queue
from ..ids import new_id, new_ids
from ..recipients.preferences import quiet_until, suppression
from ..storage import digests, notifications, send_limits
from ..storage.database import Tx
from .options import MAX_DIGEST_EVENTS, WATCHED, Fallback, SendOptions
from .publish import Audience, Plan, contact_reason


@dataclass
class Gate:
    """What the writer decides per notification: its recipient (the keys' scope) and, for a
    digest, when its window would close (quiet hours taken into account)."""

    options: SendOptions
    tenant_id: str
    priority: int
    recipients: dict[str, str] = field(default_factory=dict)  # by notification id
    digest_run_at: dict[str, float] = field(default_factory=dict)  # by notification id

    def apply(self, tx: Tx, plan: Plan, now: float) -> None:
        """In the writer: decide each notification's duplicate, throttle and digest fate, and
        rewrite the plan's rows to match (writer function; publish.store calls it)."""
        _apply(self, tx, plan, now)


def recipient_key(user_id: str | None, recipient_json: str) -> str:
    """Whose window or count: the user, or the addresses given as their hash, so the windows'
    tables hold no second copy of anyone's contact data."""
    if user_id:
        return f"user:{user_id}"
    return "to:" + hashlib.sha256(recipient_json.encode()).hexdigest()


def fallback_reason(fallback: Fallback, watch: list[str]) -> str:
    seen = "read" if fallback.unless == "read" else "delivered"
    return f"fallback: sent if {'/'.join(watch)} is not {seen} within {fallback.after_seconds} s"


def prepare(plan: Plan, options: SendOptions, channels: list[str], audience: Audience, now: float) -> None:
    """Before the write: each notification's gate entry, and its fallback deliveries (pure)."""
    category, tenant_prefs = audience.category, audience.tenant_preferences
    priority = plan.notifications[0][4] if plan.notifications else "medium"
    gate = Gate(options, audience.tenant_id, queue.PRIORITIES[priority])
    fallback = options.fallback
    watch = [c for c in channels if c in WATCHED]
    fallback_ids = iter(new_ids("dlv", len(plan.notifications) * len(fallback.channels) if fallback else 0))
    for row in plan.notifications:
        nid, tenant_id, user_id, send_at, recipient_json = row[0], row[1], row[2], row[6], row[7]
        gate.recipients[nid] = recipient_key(user_id, recipient_json)
        user = audience.users.get(user_id) if user_id else None
        prefs = audience.preferences.get(user_id) if user_id else None
        zone = user["timezone"] if user is not None else None
        if options.digest is not None:
            closes = now + options.digest.window_seconds
            gate.digest_run_at[nid] = quiet_until(priority, closes, prefs, tenant_prefs, zone) or closes
        if fallback is None:
            continue
        recipient = json.loads(recipient_json)
        due = max(send_at or now, now) + fallback.after_seconds
        for channel in fallback.channels:
            did = next(fallback_ids)
            reason = contact_reason(channel, recipient, user) or suppression(category, channel, prefs, tenant_prefs)
            run_at = quiet_until(priority, due, prefs, tenant_prefs, zone) or due
            status = "suppressed" if reason else "scheduled"
            plan.deliveries.append(
                (did, nid, tenant_id, channel, status, reason or fallback_reason(fallback, watch), now, now, None)
            )
            plan.events.append((status, tenant_id, nid, did, channel, reason))
            if reason is None:
                plan.jobs.append((did, tenant_id, channel, gate.priority, queue.WAITING, run_at))
                plan.earliest_scheduled = min(run_at, plan.earliest_scheduled or run_at)
    if options.digest or options.throttle or options.dedupe:
        plan.gate = gate


def _apply(g: Gate, tx: Tx, plan: Plan, now: float) -> None:
    options, tenant_id = g.options, g.tenant_id
    fates: dict[str, tuple[str, str]] = {}  # notification id -> (status, reason)
    digest_of: dict[str, str] = {}
    live = _live_channels(plan)
    for row in plan.notifications:
        nid = row[0]
        who = g.recipients[nid]
        if options.dedupe and _over(
            tx, tenant_id, who, "dedupe", options.dedupe.key, options.dedupe.window_seconds, 1, now
        ):
            fates[nid] = ("suppressed", "duplicate")
        elif options.throttle and _over(
            tx,
            tenant_id,
            who,
            "throttle",
            options.throttle.key,
            options.throttle.window_seconds,
            options.throttle.limit,
            now,
        ):
            fates[nid] = ("suppressed", "throttled")
        elif options.digest and live.get(nid):
            digest_id = _collect(g, tx, plan, row, who, live[nid], now)
            digest_of[nid] = digest_id
            fates[nid] = ("digested", f"digest:{digest_id}")
    if fates:
        _rewrite(plan, fates, digest_of)


def _over(tx: Tx, tenant_id: str, who: str, kind: str, key: str, window: int, limit: int, now: float) -> bool:
    return send_limits.count(tx, tenant_id, who, kind, key, window, now) > limit


def _live_channels(plan: Plan) -> dict[str, list[str]]:
    """Each notification's channels that will go (not suppressed by a preference or contact)."""
    live: dict[str, list[str]] = {}
    for d in plan.deliveries:
        if d[4] != "suppressed":
            live.setdefault(d[1], []).append(d[3])
    return live


def _collect(g: Gate, tx: Tx, plan: Plan, row: tuple[Any, ...], who: str, channels: list[str], now: float) -> str:
    """Add the event to the recipient's open window, opening one (and its digest) if none is."""
    digest = g.options.digest
    assert digest is not None
    tenant_id, nid = g.tenant_id, row[0]
    window = digests.joinable(tx, tenant_id, who, digest.key, now)
    if window is None:
        digest_id = new_id("ntf")
        run_at = g.digest_run_at[nid]
        options: dict[str, Any] = {"digest_of": digest.key}
        if g.options.replace_key is not None:
            options["replace_key"] = g.options.replace_key
        # The digest is the first event's notification again, under its own id, sending later.
        digest_row = (digest_id, *row[1:5], now, None, *row[7:12], None, json.dumps(options))
        ids = new_ids("dlv", len(channels))
        notifications.insert(
            tx,
            [digest_row],
            [
                (did, digest_id, tenant_id, c, "scheduled", None, now, now, None)
                for did, c in zip(ids, channels, strict=True)
            ],
            [(did, tenant_id, c, g.priority, queue.WAITING, run_at) for did, c in zip(ids, channels, strict=True)],
        )
        plan.earliest_scheduled = min(run_at, plan.earliest_scheduled or run_at)
        limit = digest.max_events or MAX_DIGEST_EVENTS
        window = digests.open_window(tx, tenant_id, who, digest.key, digest_id, now, now + digest.window_seconds, limit)
    if digests.add_event(tx, tenant_id, who, digest.key, window, nid) >= window.max_events:
        plan.ready_channels |= digests.close_now(tx, window.id, now)
    return window.id


def _rewrite(plan: Plan, fates: dict[str, tuple[str, str]], digest_of: dict[str, str]) -> None:
    """The plan's rows as the writer decided: gated deliveries lose their jobs."""
    gone: set[str] = set()
    deliveries = []
    for d in plan.deliveries:
        fate = fates.get(d[1])
        if fate is not None and d[4] != "suppressed":
            gone.add(d[0])
            d = (*d[:4], *fate, *d[6:])
        deliveries.append(d)
    plan.deliveries = deliveries
    plan.jobs = [j for j in plan.jobs if j[0] not in gone]
    plan.events = [(fates[e[2]][0], e[1], e[2], e[3], e[4], fates[e[2]][1]) if e[3] in gone else e for e in plan.events]
    for entry in plan.response:
        fate = fates.get(entry["id"])
        if fate is not None:
            entry["status"] = fate[0]
            if entry["id"] in digest_of:
                entry["digest_id"] = digest_of[entry["id"]]
