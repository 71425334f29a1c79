"""Preference categories: each carries a default priority and whether users may opt out."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    key: str
    priority: str
    opt_out_allowed: bool = True


BUILTIN: dict[str, Category] = {
    c.key: c
    for c in (
        Category("otp", "high", opt_out_allowed=False),
        Category("transactional", "high"),
        Category("alerts", "medium"),
        Category("marketing", "low"),
        Category("default", "medium"),
    )
}
