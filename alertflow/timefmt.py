"""RFC 3339 formatting and parsing of the REAL epoch seconds kept in the database."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import invalid

# Times a client gives (send times, query bounds) become epoch seconds and are shown again
# as RFC 3339: near year 1 or 9999 an offset, a timezone or a day's bucket leaves the
# calendar (a 500 once). Times outside these years are refused where they come in.
YEARS = (1970, 9998)
OUT_OF_RANGE = f"expected a time in the years {YEARS[0]} to {YEARS[1]}"


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def check_timezone(name: str | None) -> str | None:
    """``name`` when it is an IANA timezone; raises ValueError (for a pydantic validator) if not.

    ZoneInfo raises KeyError for an unknown name, which pydantic does not turn into a 422."""
    if name is not None:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("not an IANA timezone such as Europe/Berlin") from None
    return name


def parse(field: str, value: str) -> float:
    """An RFC 3339 time from a query parameter, or a 422 naming the parameter."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(field, "expected an RFC 3339 time such as 2026-12-01T09:00:00Z") from None
    if parsed.tzinfo is None:
        raise invalid(field, "give a UTC offset (Z or +hh:mm)")
    if not YEARS[0] <= parsed.year <= YEARS[1]:
        raise invalid(field, OUT_OF_RANGE)
    return parsed.timestamp()
