"""The in-app inbox over HTTP and over the live WebSocket.

Inbox routes take either an API key of the user's tenant (any role: ``member`` reads an inbox
and may mark it read or archive it on the user's behalf), a signed-in member's session (the
dashboard's, with the same powers), or the user's own subscriber token
from ``POST /v1/users/{user_id}/inbox-token``, which a tenant hands to that user's browser. So
the key middleware lets them through (``PUBLIC``) and :func:`subscriber` authorises each one.
A token only ever sees its own user; another user or tenant is a 404.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from typing import Any, Literal

from aiohttp import WSMsgType, web
from pydantic import BaseModel, ConfigDict, ValidationError

from .. import sessions, tenants
from ..errors import ApiError, from_validation, invalid
from ..inbox import items
from ..inbox.hub import HUB, Connection, HubClosed, TooManyConnections
from ..inbox.items import Subscriber
from ..signing import ExpiredToken, InvalidToken
from ..timefmt import iso
from .context import Services, services
from .middleware import admitted, bearer, json_response, key_principal, principal, refused, request_principal
from .params import LIMIT, page_size
from .preferences import choices_for, choose
from .routing import COUNT, OBJECT, PAGE, PUBLIC, STRING, Param, Routes, obj

api = Routes()
# What subscriber() accepts, for the API docs.
KEY_OR_TOKEN = "any key of the tenant or a member's session, or the user's inbox token"
log = logging.getLogger("alertflow.inbox")
# Items a fresh connection gets at once, so a widget shows its list without another request.
INITIAL_ITEMS = 20
# Missed items a reconnect with ?since= replays; a client away for longer reloads over REST.
REPLAY_LIMIT = 200
FLAGS = {"true": True, "1": True, "false": False, "0": False}
ITEM_CURSOR = {"type": "string", "pattern": items.ITEM_ID.pattern}
# Who else may answer: a token's user or an unknown user is a 404, a bad credential a 401, a
# session's change without its CSRF token a 403.
SELF_AUTHORISED = ("unauthorized", "forbidden", "not-found", "rate-limited")


def _secret(svc: Services) -> str:
    if not svc.config.server.secret_key:
        raise ApiError("unavailable", "server.secret_key is not set; run `alertflow init` or set it in alertflow.toml")
    return svc.config.server.secret_key


def _token_holder(request: web.Request, token: str) -> Subscriber:
    svc = services(request)
    address = admitted(request)
    try:
        return items.token_subscriber(_secret(svc), token, svc.clock.now())
    except ExpiredToken:
        # Not counted as a failure: only a browser we once gave this token holds it.
        raise ApiError("unauthorized", "the inbox token has expired; ask the application for a new one") from None
    except InvalidToken:
        raise refused(request, address, token, "the inbox token is not valid") from None


async def _existing(svc: Services, subscriber: Subscriber) -> Subscriber:
    if not await items.user_exists(svc.database, subscriber):
        raise ApiError("not-found", "no such user")
    return subscriber


async def subscriber(request: web.Request) -> Subscriber:
    """The path's user, when the caller holds a key of its tenant (or a member's session, as the
    dashboard does: with its CSRF token on a change) or that user's own token."""
    svc = services(request)
    user_id = request.match_info["user_id"]
    if "Authorization" not in request.headers and request.cookies.get(sessions.COOKIE):
        return await _existing(svc, Subscriber((await request_principal(request)).tenant_id, user_id))
    credential = bearer(request)
    if credential.startswith(f"{tenants.KEY_PREFIX}_"):
        tenant_id = (await key_principal(request, credential)).tenant_id  # every role includes member's
    else:
        holder = _token_holder(request, credential)
        if holder.user_id != user_id:
            raise ApiError("not-found", "no such user")
        tenant_id = holder.tenant_id
    return await _existing(svc, Subscriber(tenant_id, user_id))


def _cursor(request: web.Request, name: str) -> str | None:
    value = request.query.get(name) or None
    if value is not None and not items.ITEM_ID.match(value):
        raise invalid(name, "expected an inbox item id (inb_ and 26 characters)")
    return value


# --- changes, the same whether they come over HTTP or a socket ---------------------------------


def _delivered(subscriber: Subscriber, delivery_ids: list[str]) -> None:
    for delivery_id in delivery_ids:
        log.info(
            "delivered",
            extra={
                "event": "delivery.delivered",
                "tenant_id": subscriber.tenant_id,
                "delivery_id": delivery_id,
                "channel": "inapp",
            },
        )


async def read_item(svc: Services, subscriber: Subscriber, item_id: str) -> dict[str, Any]:
    now = svc.clock.now()
    item, delivered = await svc.database.write(lambda conn: items.read(conn, subscriber, item_id, now))
    if item is None:
        raise ApiError("not-found", "no such inbox item")
    _delivered(subscriber, delivered)
    svc.coordinator.inbox_changed(
        subscriber.tenant_id, subscriber.user_id, {"type": "read", "id": item_id, "read_at": item["read_at"]}
    )
    return item


async def read_everything(svc: Services, subscriber: Subscriber) -> int:
    now = svc.clock.now()
    marked, delivered = await svc.database.write(lambda conn: items.read_all(conn, subscriber, now))
    _delivered(subscriber, delivered)
    if marked:
        svc.coordinator.inbox_changed(
            subscriber.tenant_id, subscriber.user_id, {"type": "read_all", "read_at": iso(now)}
        )
    return marked


async def archive_item(svc: Services, subscriber: Subscriber, item_id: str) -> None:
    now = svc.clock.now()
    if not await svc.database.write(lambda conn: items.archive(conn, subscriber, item_id, now)):
        raise ApiError("not-found", "no such inbox item")
    svc.coordinator.inbox_changed(subscriber.tenant_id, subscriber.user_id, {"type": "archive", "id": item_id})


async def acknowledge(svc: Services, subscriber: Subscriber, item_id: str) -> None:
    now = svc.clock.now()
    _delivered(subscriber, await svc.database.write(lambda conn: items.acknowledge(conn, subscriber, item_id, now)))


# --- HTTP --------------------------------------------------------------------------------------


@api.get(
    "/v1/users/{user_id}/inbox",
    role=PUBLIC,
    access=KEY_OR_TOKEN,
    problems=SELF_AUTHORISED,
    response=PAGE,
    query=(
        Param("unread", {"enum": list(FLAGS)}, "only unread items"),
        LIMIT,
        Param("cursor", ITEM_CURSOR, "the previous page's next_cursor"),
    ),
)
async def list_inbox(request: web.Request) -> web.Response:
    """List a user's visible inbox items, newest first (by API key, or that user's token)."""
    who = await subscriber(request)
    unread = request.query.get("unread", "false").lower()
    if unread not in FLAGS:
        raise invalid("unread", "expected true or false")
    found, cursor = await items.page(
        services(request).database, who, FLAGS[unread], page_size(request), _cursor(request, "cursor")
    )
    return json_response({"items": found, "next_cursor": cursor})


@api.get(
    "/v1/users/{user_id}/inbox/count",
    role=PUBLIC,
    access=KEY_OR_TOKEN,
    problems=SELF_AUTHORISED,
    response=obj(unread_count=COUNT),
)
async def count_unread(request: web.Request) -> web.Response:
    """Count a user's unread inbox items (by API key, or that user's token)."""
    who = await subscriber(request)
    return json_response({"unread_count": await items.unread_count(services(request).database, who)})


@api.post(
    "/v1/users/{user_id}/inbox/{id}/read", role=PUBLIC, access=KEY_OR_TOKEN, problems=SELF_AUTHORISED, response=OBJECT
)
async def mark_read(request: web.Request) -> web.Response:
    """Mark one inbox item read; its delivery becomes delivered (by API key, or that user's token)."""
    who = await subscriber(request)
    return json_response(await read_item(services(request), who, request.match_info["id"]))


@api.post(
    "/v1/users/{user_id}/inbox/read-all",
    role=PUBLIC,
    access=KEY_OR_TOKEN,
    problems=SELF_AUTHORISED,
    response=obj(read=COUNT),
)
async def mark_all_read(request: web.Request) -> web.Response:
    """Mark every unread inbox item read (by API key, or that user's token)."""
    who = await subscriber(request)
    return json_response({"read": await read_everything(services(request), who)})


@api.delete("/v1/users/{user_id}/inbox/{id}", role=PUBLIC, access=KEY_OR_TOKEN, problems=SELF_AUTHORISED)
async def archive(request: web.Request) -> web.Response:
    """Archive one inbox item: hidden from lists and counts, kept for history (by API key, or that user's token)."""
    who = await subscriber(request)
    await archive_item(services(request), who, request.match_info["id"])
    return web.Response(status=204)


@api.post("/v1/users/{user_id}/inbox-token", problems=("unavailable",), response=obj(token=STRING, expires_at=STRING))
async def issue_token(request: web.Request) -> web.Response:
    """Issue a subscriber token for one user's browser (member and up; a token cannot make tokens)."""
    svc = services(request)
    who = await _existing(svc, Subscriber(principal(request).tenant_id, request.match_info["user_id"]))
    token, expires_at = items.issue_token(_secret(svc), who, svc.config.inbox.token_ttl_seconds, svc.clock.now())
    return json_response({"token": token, "expires_at": iso(expires_at)})


# --- WebSocket ---------------------------------------------------------------------------------


class ClientMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ReadMessage(ClientMessage):
    type: Literal["read"]
    id: str


class ReadAllMessage(ClientMessage):
    type: Literal["read_all"]


class ArchiveMessage(ClientMessage):
    type: Literal["archive"]
    id: str


class AckMessage(ClientMessage):
    """The item reached the client: its delivery becomes ``delivered``."""

    type: Literal["ack"]
    id: str


class ChoicesMessage(ClientMessage):
    """The widget's settings view opened: the server answers with ``{"type": "choices", ...}``."""

    type: Literal["choices"]


class ChooseMessage(ClientMessage):
    """One toggle of the settings view; answered with the new ``choices`` (or an error)."""

    type: Literal["choose"]
    category: str
    channel: str
    on: bool


CLIENT_MESSAGES: dict[str, type[ClientMessage]] = {
    "read": ReadMessage,
    "read_all": ReadAllMessage,
    "archive": ArchiveMessage,
    "ack": AckMessage,
    "choices": ChoicesMessage,
    "choose": ChooseMessage,
}


def parse_message(text: str) -> ClientMessage:
    """A client's message, by its ``type``; errors name the field as for a request body."""
    try:
        raw = json.loads(text)
    except ValueError:
        raise ApiError("malformed-json", "send one JSON object per message") from None
    kind = raw.get("type") if isinstance(raw, dict) else None
    if not isinstance(kind, str) or kind not in CLIENT_MESSAGES:
        raise invalid("type", f"expected one of {', '.join(CLIENT_MESSAGES)}")
    try:
        return CLIENT_MESSAGES[kind].model_validate(raw)
    except ValidationError as exc:
        raise from_validation(exc) from None


def _problem(error: ApiError) -> dict[str, Any]:
    return {"type": "error", "problem": error.body()}


async def _apply(svc: Services, connection: Connection, text: str) -> None:
    """One client message; a bad one is answered on that socket alone and the socket stays open."""
    who = connection.subscriber
    try:
        match parse_message(text):
            case ReadMessage(id=item_id):
                await read_item(svc, who, item_id)
            case ReadAllMessage():
                await read_everything(svc, who)
            case ArchiveMessage(id=item_id):
                await archive_item(svc, who, item_id)
            case AckMessage(id=item_id):
                await acknowledge(svc, who, item_id)
            case ChoicesMessage():
                connection.send({"type": "choices", **await choices_for(svc, who.tenant_id, who.user_id)})
            case ChooseMessage(category=category, channel=channel, on=on):
                await choose(svc, who.tenant_id, who.user_id, category, channel, on)
                connection.send({"type": "choices", **await choices_for(svc, who.tenant_id, who.user_id)})
    except ApiError as exc:
        connection.send(_problem(exc))
    except Exception:  # a failed write must not take the user's live connection down with it
        log.exception("inbox message failed", extra={"tenant_id": who.tenant_id})
        connection.send(_problem(ApiError("internal", "an internal error occurred; it has been logged")))


def _aborter(request: web.Request) -> Callable[[], None]:
    def abort() -> None:
        if request.transport is not None:
            request.transport.abort()

    return abort


@api.get(
    "/v1/inbox/ws",
    role=PUBLIC,
    access="the user's inbox token (?token=)",
    status=101,
    content=None,
    problems=("bad-request", "unauthorized", "not-found", "rate-limited", "unavailable"),
    query=(
        Param("token", {"type": "string"}, "from POST /v1/users/{user_id}/inbox-token", required=True),
        Param("since", ITEM_CURSOR, "replay items after this one (a reconnect)"),
    ),
)
async def inbox_socket(request: web.Request) -> web.StreamResponse:
    """Open the live inbox of the token's user: backlog, then pushes; see README "In-app notifications"."""
    svc, hub = services(request), request.app[HUB]
    token = request.query.get("token")
    if not token:
        raise ApiError("unauthorized", "connect with ?token= (from POST /v1/users/{user_id}/inbox-token)")
    who = await _existing(svc, _token_holder(request, token))
    since = _cursor(request, "since")
    ws = web.WebSocketResponse(heartbeat=svc.config.inbox.heartbeat_seconds)
    try:
        connection = hub.connect(who, ws, _aborter(request))
    except TooManyConnections:
        # Closed tabs are noticed within a heartbeat or so; by then a slot may be free.
        retry = str(math.ceil(svc.config.inbox.heartbeat_seconds))
        cap = svc.config.inbox.max_connections_per_user
        raise ApiError(
            "rate-limited", f"this user has {cap} open inbox connections", headers={"Retry-After": retry}
        ) from None
    except HubClosed:
        raise ApiError("unavailable", "the server is shutting down") from None
    try:
        await ws.prepare(request)
        connection.start()
        for item in await items.recent(svc.database, who, since, REPLAY_LIMIT if since else INITIAL_ITEMS):
            connection.send({"type": "notification", "data": item})
        connection.send({"type": "unread_count", "count": await items.unread_count(svc.database, who)})
        async for message in ws:
            if message.type is WSMsgType.TEXT:
                await _apply(svc, connection, message.data)
            else:
                connection.send(_problem(ApiError("bad-request", "send JSON text messages")))
    finally:
        hub.disconnect(connection)
        await connection.stop()
    return ws
