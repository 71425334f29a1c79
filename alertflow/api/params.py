"""Query-string parameters: parsed and bounded here, and described for /openapi.json."""

from __future__ import annotations

import re

from aiohttp import web

from ..errors import invalid
from .routing import Param

DEFAULT_PAGE, MAX_PAGE = 50, 500
# ASCII digits only (str.isdigit also takes "²", which int() refuses), and never so many
# that a number overflows SQLite's 64-bit INTEGER: the bound is checked on the value after.
_WHOLE = re.compile(r"[0-9]{1,19}")
# The largest row id a cursor may name (SQLite INTEGER).
MAX_ROW_ID = 2**63 - 1

LIMIT = Param(
    "limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE}, "items per page"
)
CURSOR = Param("cursor", {"type": "string", "maxLength": 100}, "the previous page's next_cursor")


def whole_number(field: str, raw: str, lowest: int, highest: int) -> int:
    """``raw`` as an int from ``lowest`` to ``highest``, or a 422 naming ``field``."""
    if not _WHOLE.fullmatch(raw) or not lowest <= int(raw) <= highest:
        raise invalid(field, f"expected a whole number from {lowest} to {highest}")
    return int(raw)


def page_size(request: web.Request) -> int:
    return whole_number("limit", request.query.get("limit", str(DEFAULT_PAGE)), 1, MAX_PAGE)


def choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    """An optional parameter that must be one of ``allowed``."""
    value = request.query.get(name) or None
    if value is not None and value not in allowed:
        raise invalid(name, f"expected one of {', '.join(allowed)}")
    return value
