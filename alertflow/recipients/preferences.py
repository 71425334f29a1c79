"""Recipients' choices: which categories and channels they accept, and their quiet hours.

The effective value of every switch is the user's override, else the tenant's default,
else on. A category that does not allow opting out (``otp``) is always delivered, on every
channel the publish asked for; quiet hours never hold back ``high`` priority.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..cache import TtlCache
from ..naming import ClientId
from ..storage import preference_rows
from ..storage.database import Database
from ..timefmt import check_timezone
from .categories import Category

TENANT_DEFAULTS = ""  # the user_id under which a tenant's defaults are stored

_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CategoryChoice(_Strict):
    enabled: bool | None = None
    channels: dict[str, bool] = {}


class QuietHours(_Strict):
    """A daily window in the recipient's timezone; ``start`` after ``end`` spans midnight."""

    start: str = Field(pattern=_HHMM)
    end: str = Field(pattern=_HHMM)
    timezone: str | None = None  # when the user record has none

    @field_validator("timezone")
    @classmethod
    def _zone(cls, v: str | None) -> str | None:
        return check_timezone(v)


class Preferences(_Strict):
    channels: dict[str, bool] = {}
    categories: dict[ClientId, CategoryChoice] = {}
    quiet_hours: QuietHours | None = None

    @field_validator("channels")
    @classmethod
    def _known_channels(cls, v: dict[str, bool]) -> dict[str, bool]:
        from ..message import CHANNELS

        unknown = [c for c in v if c not in CHANNELS]
        if unknown:
            raise ValueError(f"unknown channel {unknown[0]!r}")
        return v


def _choice(prefs: Preferences | None, category: str) -> CategoryChoice | None:
    return prefs.categories.get(category) if prefs else None


def _first(*values: bool | None) -> bool:
    return next((v for v in values if v is not None), True)


def suppression(category: Category, channel: str, user: Preferences | None, tenant: Preferences | None) -> str | None:
    """Why a preference blocks ``channel`` for ``category``, or None when it may go."""
    if not category.opt_out_allowed or (user is None and tenant is None):  # the common case, made cheap for bulk
        return None
    u, t = _choice(user, category.key), _choice(tenant, category.key)
    if not _first(u.enabled if u else None, t.enabled if t else None):
        return f"preference:category:{category.key}"
    if not _first((user.channels if user else {}).get(channel), (tenant.channels if tenant else {}).get(channel)):
        return f"preference:channel:{channel}"
    if not _first((u.channels if u else {}).get(channel), (t.channels if t else {}).get(channel)):
        return f"preference:category:{category.key}:channel:{channel}"
    return None


def opt_out_errors(prefs: Preferences, categories: dict[str, Category]) -> list[dict[str, str]]:
    """Fields of a preferences document that try to turn off a category that forbids it."""
    errors = []
    for key, choice in prefs.categories.items():
        category = categories.get(key)
        if category is None:
            errors.append({"field": f"categories.{key}", "message": f"unknown category {key!r}"})
        elif not category.opt_out_allowed and (choice.enabled is False or False in choice.channels.values()):
            errors.append({"field": f"categories.{key}", "message": f"category {key!r} cannot be turned off"})
    return errors


def quiet_until(
    priority: str, now: float, user: Preferences | None, tenant: Preferences | None, user_timezone: str | None
) -> float | None:
    """When a quiet window holding back this delivery ends, or None if it may go now."""
    if priority == "high":
        return None
    window = (user.quiet_hours if user and user.quiet_hours else None) or (tenant.quiet_hours if tenant else None)
    if window is None:
        return None
    zone = ZoneInfo(user_timezone or window.timezone or "UTC")
    local = datetime.fromtimestamp(now, zone)
    start, end = time.fromisoformat(window.start), time.fromisoformat(window.end)
    t = local.time()
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    ends = datetime.combine(local.date(), end, zone)
    if ends <= local:
        ends += timedelta(days=1)
    return ends.timestamp()


def parse(document: str | None) -> Preferences | None:
    return Preferences.model_validate_json(document) if document else None


def shape(prefs: Preferences | None) -> dict[str, Any]:
    return (prefs or Preferences()).model_dump(exclude_none=True)


def cache_key(tenant_id: str) -> tuple[str, str]:
    """Where a tenant's defaults sit in the settings cache; writes drop this key."""
    return ("defaults", tenant_id)


async def cached_defaults(settings: TtlCache, db: Database, tenant_id: str) -> Preferences | None:
    """The tenant's defaults through the settings cache: every publish reads them."""
    found: Preferences | None = await settings.get(cache_key(tenant_id), lambda: defaults(db, tenant_id))
    return found


async def defaults(db: Database, tenant_id: str) -> Preferences | None:
    return parse(await preference_rows.document(db, tenant_id, TENANT_DEFAULTS))
