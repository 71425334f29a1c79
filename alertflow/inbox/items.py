"""The in-app inbox: reading, marking and archiving the items the built-in ``inbox`` provider writes.

An item stays ``sent`` until the user's browser acknowledges or reads it; then its delivery
becomes ``delivered``. Archiving (``DELETE``) hides an item but keeps its row, so history and
delivery counts stay whole; erasing a user (``DELETE /v1/users/{id}``) removes the rows.
Write functions here run inside the single writer (see storage.database); storage.inbox_items
holds the table.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .. import signing
from ..delivery import status_events
from ..storage import inbox_items, status_payloads, users
from ..storage.database import Database, Tx
from ..timefmt import iso

TOKEN_PURPOSE = "inbox"
ITEM_ID = re.compile(r"^inb_[0-9a-z]{26}$")


@dataclass(frozen=True)
class Subscriber:
    """Whose inbox: a user of a tenant (user ids are only unique within their tenant)."""

    tenant_id: str
    user_id: str

    @property
    def params(self) -> tuple[str, str]:
        return self.tenant_id, self.user_id


def issue_token(secret: str, subscriber: Subscriber, ttl_seconds: float, now: float) -> tuple[str, float]:
    """A subscriber token for the user's browser, and when it expires."""
    payload = {"t": subscriber.tenant_id, "u": subscriber.user_id}
    return signing.sign(secret, TOKEN_PURPOSE, payload, ttl_seconds, now), now + ttl_seconds


def token_subscriber(secret: str, token: str, now: float) -> Subscriber:
    """Whose token this is; raises :class:`signing.InvalidToken` or :class:`signing.ExpiredToken`."""
    claims = signing.verify(secret, TOKEN_PURPOSE, token, now)
    return Subscriber(claims["t"], claims["u"])


async def user_exists(db: Database, subscriber: Subscriber) -> bool:
    return await users.exists(db, *subscriber.params)


async def page(
    db: Database, subscriber: Subscriber, unread_only: bool, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first; ``cursor`` is the last id of the previous page."""
    return await inbox_items.page(db, *subscriber.params, unread_only, limit, cursor)


async def recent(db: Database, subscriber: Subscriber, since: str | None, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` visible items (after ``since`` when given), oldest first, as a feed replays them."""
    return await inbox_items.recent(db, *subscriber.params, since, limit)


async def unread_counts(db: Database, subscribers: Iterable[Subscriber]) -> dict[Subscriber, int]:
    """Unread, visible items per subscriber; a subscriber with none is absent."""
    by_tenant: dict[str, list[str]] = defaultdict(list)
    for s in subscribers:
        by_tenant[s.tenant_id].append(s.user_id)
    counts: dict[Subscriber, int] = {}
    for tenant_id, user_ids in by_tenant.items():
        found = await inbox_items.unread_counts(db, tenant_id, user_ids)
        counts.update({Subscriber(tenant_id, user_id): n for user_id, n in found.items()})
    return counts


async def unread_count(db: Database, subscriber: Subscriber) -> int:
    return (await unread_counts(db, [subscriber])).get(subscriber, 0)


def acknowledge(tx: Tx, subscriber: Subscriber, item_id: str, now: float) -> list[str]:
    """The item reached the user's browser; returns the delivery ids that became ``delivered``."""
    delivered = inbox_items.acknowledge(tx, *subscriber.params, item_id, now)
    status_events.deliveries_changed(tx, subscriber.tenant_id, delivered, "delivered", now)
    return delivered


def read(tx: Tx, subscriber: Subscriber, item_id: str, now: float) -> tuple[dict[str, Any] | None, list[str]]:
    """Mark one visible item read (a second read keeps the first time); None when there is none."""
    item, delivered = inbox_items.read(tx, *subscriber.params, item_id, now)
    status_events.deliveries_changed(tx, subscriber.tenant_id, delivered, "delivered", now)
    if item is not None and item["read_at"] == iso(now):  # read now, not before
        status_events.record(tx, subscriber.tenant_id, "inbox.read", lambda: _read_event(subscriber, item), now)
    return item, delivered


def read_all(tx: Tx, subscriber: Subscriber, now: float) -> tuple[int, list[str]]:
    """Mark every unread visible item read; returns how many, and the deliveries now delivered."""
    marked, delivered = inbox_items.read_all(tx, *subscriber.params, now)
    status_events.deliveries_changed(tx, subscriber.tenant_id, delivered, "delivered", now)
    if marked:

        def items_read() -> list[dict[str, Any]]:
            return [_read_event(subscriber, i) for i in status_payloads.read_at(tx, *subscriber.params, now)]

        status_events.record_each(tx, subscriber.tenant_id, "inbox.read", items_read, now)
    return marked, delivered


def _read_event(subscriber: Subscriber, item: dict[str, Any]) -> dict[str, Any]:
    """An ``inbox.read`` event's data: the item as the API shows it, and whose inbox it is in."""
    return {**item, "user_id": subscriber.user_id}


def archive(tx: Tx, subscriber: Subscriber, item_id: str, now: float) -> bool:
    """Hide one item from the inbox; False when it is not there (or already archived)."""
    return inbox_items.archive(tx, *subscriber.params, item_id, now)
