"""Every route table the server serves, one per resource module, in the order the router adds them."""

from __future__ import annotations

from . import (
    analytics,
    batches,
    categories,
    channels,
    dashboard,
    dlq,
    inbox,
    keys,
    notifications,
    operations,
    outbox,
    preferences,
    schedules,
    templates,
    topics,
    unsubscribe,
    users,
)

ROUTE_TABLES = (
    operations.api,
    notifications.api,
    dlq.api,
    outbox.api,
    users.api,
    categories.api,
    preferences.api,
    topics.api,
    templates.api,
    channels.api,
    analytics.api,
    unsubscribe.api,
    dashboard.api,
    inbox.api,
    batches.api,
    schedules.api,
    keys.api,
)
