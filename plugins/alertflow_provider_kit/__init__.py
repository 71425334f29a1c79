"""Small pieces the first-party providers share: HTTP replies as outcomes, HTTP clients held
to the core's outbound guard, and bounded setting types.

Kept apart from the core on purpose: the core stays free of any provider's concerns, and a
third-party provider may import these helpers or ignore them.
"""

from .http import (
    HttpReply,
    OwnedSession,
    failure_text,
    json_object,
    outcome_for_status,
    post,
    retry_after_seconds,
)
from .settings import MAX_TIMEOUT_SECONDS, TimeoutSeconds
from .sync_http import GuardedAdapter, guarded_session

__all__ = [
    "GuardedAdapter",
    "MAX_TIMEOUT_SECONDS",
    "HttpReply",
    "OwnedSession",
    "failure_text",
    "guarded_session",
    "json_object",
    "outcome_for_status",
    "post",
    "retry_after_seconds",
    "TimeoutSeconds",
]
