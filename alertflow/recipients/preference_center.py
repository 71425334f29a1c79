"""The preference center: the categories a person may turn off, per channel, as on/off choices.

The inbox widget's settings view and the hosted page (``api/preference_center.py``) show the
same choices and save them the same way, into the user's own preferences document.
"""

from __future__ import annotations

from typing import Any

from ..message import CHANNELS
from .categories import Category
from .preferences import CategoryChoice, Preferences, suppression

PURPOSE = "preferences"
PATH = "/v1/preferences/page/"


def choices(
    categories: dict[str, Category], user: Preferences | None, tenant: Preferences | None
) -> list[dict[str, Any]]:
    """Each category with whether it may be turned off and whether each channel is on now."""
    return [
        {
            "key": category.key,
            "opt_out_allowed": category.opt_out_allowed,
            "channels": {ch: suppression(category, ch, user, tenant) is None for ch in CHANNELS},
        }
        for category in sorted(categories.values(), key=lambda c: c.key)
    ]


def chosen(prefs: Preferences | None, categories: dict[str, Category], on: set[tuple[str, str]]) -> Preferences:
    """``prefs`` with every opt-out-able category set to exactly the (category, channel) pairs in ``on``."""
    doc = (prefs or Preferences()).model_copy(deep=True)
    for category in categories.values():
        if category.opt_out_allowed:
            picked = {ch: (category.key, ch) in on for ch in CHANNELS}
            # Explicitly enabled when anything is on, so an earlier one-click unsubscribe is undone.
            doc.categories[category.key] = CategoryChoice(enabled=any(picked.values()), channels=picked)
    return doc


def switched(prefs: Preferences | None, category: str, channel: str, on: bool) -> Preferences:
    """``prefs`` with one category's channel turned on or off (the widget's single toggle)."""
    doc = (prefs or Preferences()).model_copy(deep=True)
    choice = doc.categories.get(category) or CategoryChoice()
    enabled = True if on else choice.enabled  # turning a channel on undoes an unsubscribe from the category
    doc.categories[category] = CategoryChoice(enabled=enabled, channels={**choice.channels, channel: on})
    return doc
