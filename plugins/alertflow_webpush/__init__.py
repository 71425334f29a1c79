"""Browser push (Web Push, RFC 8030/8291/8292) with VAPID, through pywebpush."""

from .keys import generate_vapid_keys, vapid_public_key
from .provider import WebPushProvider, WebPushSettings

__all__ = ["WebPushProvider", "WebPushSettings", "generate_vapid_keys", "vapid_public_key"]
