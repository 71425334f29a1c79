"""Signed JSON webhooks: POST each message to a tenant's URL with an HMAC-SHA256 signature.

Signature scheme (what a receiver checks):

- ``X-AlertFlow-Timestamp``: Unix time in seconds when the request was signed.
- ``X-AlertFlow-Signature``: ``sha256=`` followed by the lowercase hex HMAC-SHA256, keyed
  with the provider's ``secret`` (UTF-8), of ``f"{timestamp}.".encode() + raw_body``.
- ``X-AlertFlow-Delivery``: the delivery id, the same on every retry of one delivery, so
  a receiver can drop duplicates.

A receiver recomputes the HMAC over the exact bytes it received (before any JSON parsing),
compares with :func:`hmac.compare_digest`, and rejects timestamps older than a few minutes
so a captured request cannot be replayed later. :func:`signature` computes the header value.
"""

from .provider import WebhookProvider, WebhookSettings, signature

__all__ = ["WebhookProvider", "WebhookSettings", "signature"]
