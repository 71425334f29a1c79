"""Every route table the server serves, one per resource module, in the order the router adds them."""

from __future__ import annotations

from . import (
    analytics,
    batches,
    categories,
    channels,
    dashboard,
    dlq,
    guides,
    inbox,
    notifications,
    operations,
    outbox,
    preferences,
    receipts,
    schedules,
    suppressions,
    templates,
    topics,
    unsubscribe,
    users,
)

ROUTE_TABLES = (
    operations.api,
    guides.api,
    notifications.api,
    dlq.api,
    outbox.api,
    users.api,
    categories.api,
    preferences.api,
    topics.api,
    templates.api,
    receipts.api,
    suppressions.api,
    channels.api,
    analytics.api,
    unsubscribe.api,
    dashboard.api,
    inbox.api,
    batches.api,
    schedules.api,
)
