"""Analytics: deliveries over time, a month's usage, and what waits in the queue now."""

from __future__ import annotations

from aiohttp import web

from ..errors import invalid
from ..message import CHANNELS
from ..ops import analytics
from ..providers.channel_setup import UnreadableSetup
from ..providers.interface import ProviderConfigError
from ..storage import stats
from ..timefmt import iso, parse
from .context import Services, services
from .middleware import json_response, principal
from .params import choice
from .routing import COUNT, OBJECT, STRING, Param, Routes, obj

api = Routes()
# A query covers at most this many buckets: a year of days, or two months of hours.
MAX_BUCKETS = 1500


TIME = {"type": "string", "format": "date-time"}
DELIVERIES_QUERY = (
    Param("since", TIME, "default: a week (interval=hour: a day) before until"),
    Param("until", TIME, "default: now"),
    Param("interval", {"enum": list(analytics.BUCKET_SECONDS), "default": "day"}),
    Param("channel", {"enum": list(CHANNELS)}),
)


BUCKETS = obj(
    interval={"enum": list(analytics.BUCKET_SECONDS)},
    buckets={"type": "array", "items": obj(start=STRING, counts=OBJECT, total=COUNT)},
)


@api.get("/v1/analytics/deliveries", query=DELIVERIES_QUERY, response=BUCKETS)
async def deliveries(request: web.Request) -> web.Response:
    """Count deliveries by status per hour or day.

    ``since`` defaults to a week (hour: a day) before ``until``."""
    svc, q = services(request), request.query
    interval = choice(request, "interval", tuple(analytics.BUCKET_SECONDS)) or "day"
    channel = choice(request, "channel", CHANNELS)
    size = analytics.BUCKET_SECONDS[interval]
    until = parse("until", q["until"]) if q.get("until") else svc.clock.now()
    since = parse("since", q["since"]) if q.get("since") else until - (7 if interval == "day" else 1) * 86400
    if since >= until:
        raise invalid("since", "must be before until")
    if (until - since) / size > MAX_BUCKETS:
        raise invalid("since", f"the range spans more than {MAX_BUCKETS} {interval}s")
    buckets = await analytics.deliveries(svc.database, principal(request).tenant_id, since, until, interval, channel)
    return json_response({"interval": interval, "buckets": buckets})


MONTH = Param("month", {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"}, "default: this month")


@api.get("/v1/usage", query=(MONTH,), response=obj(month=STRING, notifications=COUNT, deliveries=OBJECT))
async def usage(request: web.Request) -> web.Response:
    """Count a month's notifications and deliveries per channel and status."""
    month = request.query.get("month") or (iso(services(request).clock.now()) or "")[:7]
    try:
        return json_response(await analytics.usage(services(request).database, principal(request).tenant_id, month))
    except ValueError:
        raise invalid("month", "expected YYYY-MM") from None


CIRCUIT = obj(channel=STRING, provider=STRING, state={"enum": ["closed", "open", "half-open"]})
QUEUE = obj(
    depth={"type": "object", "additionalProperties": {"type": "object", "additionalProperties": COUNT}},
    dead=COUNT,
    circuits={"type": "array", "items": CIRCUIT},
)


@api.get("/v1/queue", response=QUEUE)
async def queue(request: web.Request) -> web.Response:
    """Count the tenant's queued deliveries per channel and priority, its dead letters, and
    the circuit state of each of its providers as this node sees it."""
    svc, tenant_id = services(request), principal(request).tenant_id
    found = await stats.tenant_queue(svc.database, tenant_id)
    return json_response({"depth": found.depth, "dead": found.dead, "circuits": await circuits(svc, tenant_id)})


async def circuits(svc: Services, tenant_id: str) -> list[dict[str, str]]:
    """Each provider of each channel with its breaker's state. Breakers live in each node's
    memory, so another node may see a provider otherwise; a set-up that cannot be read has
    no providers to show (GET /v1/channels/{channel} says why)."""
    out = []
    for channel in CHANNELS:
        try:
            handles = await svc.channels.for_tenant(tenant_id, channel)
        except (UnreadableSetup, ProviderConfigError):
            continue
        out += [{"channel": channel, "provider": h.name, "state": h.breaker.state} for h in handles]
    return out
