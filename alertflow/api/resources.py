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
    members,
    notifications,
    operations,
    outbox,
    preferences,
    receipts,
    schedules,
<<<<<<< HEAD
    suppressions,
=======
    signin,
>>>>>>> people
    templates,
    tenants,
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
    receipts.api,
    suppressions.api,
    channels.api,
    analytics.api,
    unsubscribe.api,
    dashboard.api,
    inbox.api,
    batches.api,
    schedules.api,
    signin.api,
    members.api,
    tenants.api,
)
