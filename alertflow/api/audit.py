"""The audit log: who changed what in the tenant, read by admins and up.

Entries are written by the handlers that make the changes, in the change's own transaction:
:func:`audited` wraps a write so that auditing an action is one line at the write site."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from ..errors import invalid
from ..ids import new_id
from ..providers.channel_setup import MASK
from ..storage import audit_entries
from ..storage.audit_entries import Actor, Entry
from ..storage.database import Tx
from ..tenants import Principal, Role
from ..timefmt import iso, parse
from .context import services
from .middleware import client_address, json_response, principal
from .params import LIMIT, MAX_ROW_ID, page_size, whole_number
from .routing import PAGE, Param, Routes

api = Routes()
T = TypeVar("T")
# Longer than any action name or actor (an email is at most 254 characters).
MAX_FILTER_CHARS = 254
QUERY = (
    Param("since", {"type": "string", "format": "date-time"}, "entries at or after this time"),
    Param("until", {"type": "string", "format": "date-time"}, "entries before this time"),
    Param("actor", {"type": "string", "maxLength": MAX_FILTER_CHARS}, "a key's prefix or a member's email"),
    Param("action", {"type": "string", "maxLength": MAX_FILTER_CHARS}, "an action, or a family: template.*"),
    LIMIT,
    Param("cursor", {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID}, "the previous page's next_cursor"),
)
# Settings whose values never reach the log, whatever resource they belong to; channels'
# provider secrets are masked by their own descriptions first (ChannelProviders.masked).
SECRET_NAMES = ("secret", "password", "token", "api_key", "private_key", "credentials")


def masked(value: Any) -> Any:
    """``value`` with the value of every secret-looking field shown as channels show secrets."""
    if isinstance(value, dict):
        return {
            k: MASK if v is not None and any(s in k.lower() for s in SECRET_NAMES) else masked(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def actor_of(caller: Principal) -> Actor:
    if caller.key_id is not None:
        return Actor("key", caller.key_id)
    return Actor("operator" if caller.operator else "member", caller.member_id)


@dataclass(frozen=True)
class Note:
    """Who acts, from where and when: what every entry of one request shares."""

    tenant_id: str
    actor: Actor
    client: str | None
    at: float

    def __call__(
        self, tx: Tx, action: str, resource: tuple[str, str | None], before: Any = None, after: Any = None
    ) -> None:
        audit_entries.record(
            tx,
            new_id("aud"),
            self.tenant_id,
            self.at,
            self.actor,
            self.client,
            action,
            resource,
            masked(before),
            masked(after),
        )


def note(request: web.Request) -> Note:
    """The authenticated request's :class:`Note`."""
    caller = principal(request)
    return Note(caller.tenant_id, actor_of(caller), client_address(request), services(request).clock.now())


def changed(result: object) -> bool:
    """Write operations answer False when they found nothing to change (a delete's not found)."""
    return result is not False


def found(result: object) -> bool:
    """For operations that answer None when they found nothing (a replay, a pause)."""
    return result is not None


def audited(
    request: web.Request,
    action: str,
    resource: tuple[str, str | None],
    change: Callable[[Tx], T],
    before: Any = None,
    after: Any = None,
    when: Callable[[Any], bool] = changed,
) -> Callable[[Tx], T]:
    """``change`` followed, in its transaction, by its entry when ``when`` says its result
    changed something. None when it raises: nothing of the transaction commits."""
    entry = note(request)

    def run(tx: Tx) -> T:
        result = change(tx)
        if when(result):
            entry(tx, action, resource, before, after)
        return result

    return run


def shape(e: Entry) -> dict[str, Any]:
    actor: dict[str, Any] = {"type": e.actor_type, "prefix" if e.actor_type == "key" else "email": e.actor}
    return {
        "id": e.id,
        "at": iso(e.at),
        "actor": actor,
        "client": e.client,
        "action": e.action,
        "resource": {"type": e.resource_type, "id": e.resource_id},
        "before": e.before,
        "after": e.after,
    }


def _text(request: web.Request, name: str) -> str | None:
    value = request.query.get(name) or None
    if value is not None and len(value) > MAX_FILTER_CHARS:
        raise invalid(name, f"at most {MAX_FILTER_CHARS} characters")
    return value


@api.get("/v1/audit", role=Role.admin, query=QUERY, response=PAGE)
async def list_entries(request: web.Request) -> web.Response:
    """Read the audit log, newest first; filters combine. Entries cannot be changed or deleted."""
    since, until = request.query.get("since"), request.query.get("until")
    cursor = request.query.get("cursor")
    limit = page_size(request)
    found = await audit_entries.page(
        services(request).database,
        principal(request).tenant_id,
        parse("since", since) if since else None,
        parse("until", until) if until else None,
        _text(request, "actor"),
        _text(request, "action"),
        limit + 1,
        whole_number("cursor", cursor, 1, MAX_ROW_ID) if cursor else None,
    )
    next_cursor = str(found[limit - 1].seq) if len(found) > limit else None
    return json_response({"items": [shape(e) for e in found[:limit]], "next_cursor": next_cursor})
