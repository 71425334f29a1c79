"""Analytics: deliveries over time, and a month's usage."""

from __future__ import annotations

from aiohttp import web

from .. import analytics
from ..errors import invalid
from ..message import CHANNELS
from ..services import services
from ..timefmt import iso, parse
from .middleware import json_response, principal
from .routing import Routes

api = Routes()
# A query covers at most this many buckets: a year of days, or two months of hours.
MAX_BUCKETS = 1500


@api.get("/v1/analytics/deliveries")
async def deliveries(request: web.Request) -> web.Response:
    """Counts by status per hour or day; ``since`` defaults to a week (hour: a day) before ``until``."""
    svc, q = services(request), request.query
    interval = q.get("interval", "day")
    if interval not in analytics.BUCKET_SECONDS:
        raise invalid("interval", "expected hour or day")
    if q.get("channel") and q["channel"] not in CHANNELS:
        raise invalid("channel", f"expected one of {', '.join(CHANNELS)}")
    size = analytics.BUCKET_SECONDS[interval]
    until = parse("until", q["until"]) if q.get("until") else svc.clock.now()
    since = parse("since", q["since"]) if q.get("since") else until - (7 if interval == "day" else 1) * 86400
    if since >= until:
        raise invalid("since", "must be before until")
    if (until - since) / size > MAX_BUCKETS:
        raise invalid("since", f"the range spans more than {MAX_BUCKETS} {interval}s")
    buckets = await analytics.deliveries(
        svc.database, principal(request).tenant_id, since, until, interval, q.get("channel")
    )
    return json_response({"interval": interval, "buckets": buckets})


@api.get("/v1/usage")
async def usage(request: web.Request) -> web.Response:
    month = request.query.get("month") or (iso(services(request).clock.now()) or "")[:7]
    try:
        return json_response(await analytics.usage(services(request).database, principal(request).tenant_id, month))
    except ValueError:
        raise invalid("month", "expected YYYY-MM") from None
