"""Small pieces the first-party providers share: HTTP replies as outcomes.

Kept apart from the core on purpose: the core stays free of any provider's concerns, and a
third-party provider may import these helpers or ignore them.
"""

from .http import (
    HttpReply,
    OwnedSession,
    json_object,
    outcome_for_status,
    post,
    retry_after_seconds,
)

__all__ = [
    "HttpReply",
    "OwnedSession",
    "json_object",
    "outcome_for_status",
    "post",
    "retry_after_seconds",
]
