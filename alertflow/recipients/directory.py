"""Keeping user records true to what providers report: devices they found gone."""

from __future__ import annotations

from ..message import Device
from ..storage import deliveries
from ..storage import users as stored_users
from ..storage.database import Tx

# The history's entry for each device removed, among the delivery's attempts (it is not one).
DEVICE_REMOVED = "device_removed"


def prune_devices(
    tx: Tx, tenant_id: str, user_id: str, delivery_id: str, devices: tuple[Device, ...], now: float
) -> None:
    """Remove devices a provider found gone from the user, and record each removal (writer)."""
    tokens = {d.token for d in devices if d.kind == "fcm" and d.token}
    endpoints = {e for d in devices if d.kind == "webpush" and (e := (d.subscription or {}).get("endpoint"))}
    if stored_users.remove_devices(tx, tenant_id, user_id, tokens, endpoints, now):
        removed = [f"{d.kind}: {(d.token or (d.subscription or {}).get('endpoint', ''))[:24]}…" for d in devices]
        deliveries.add_events(tx, delivery_id, now, [(DEVICE_REMOVED, description, None) for description in removed])
