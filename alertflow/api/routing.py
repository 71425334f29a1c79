"""Route tables that carry each handler's required role, enforced by one middleware, and
what /openapi.json says of each route: its body, query, answers and the problems it can give."""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypedDict

from aiohttp import web
from pydantic import BaseModel
from typing_extensions import Unpack

from .. import naming
from ..errors import invalid
from ..tenants import Role

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ROLE_ATTR = "__alertflow_role__"
PUBLIC = None  # a route anyone may call (health checks, signed links, provider callbacks)
JSON = "application/json"
PATH_PARAM = re.compile(r"{(\w+)}")
# Path parameters that hold an id the client chose (naming.py): checked before any handler runs,
# so a read, a write and a delete all refuse the same ids with the same 422.
CLIENT_ID_PARAMS = frozenset({"user_id", "key"})


@dataclass(frozen=True)
class Param:
    """A query parameter, as /openapi.json describes it (the handler parses it)."""

    name: str
    schema: dict[str, Any]
    description: str = ""
    required: bool = False


def obj(required: tuple[str, ...] = (), **properties: dict[str, Any]) -> dict[str, Any]:
    """A JSON schema of an object with these properties (others may follow)."""
    return {"type": "object", "properties": properties, "required": list(required or properties)}


STRING: dict[str, Any] = {"type": "string"}
COUNT: dict[str, Any] = {"type": "integer", "minimum": 0}
OBJECT: dict[str, Any] = {"type": "object"}
ITEMS = obj(items={"type": "array", "items": OBJECT})
# A page of a list that goes on: next_cursor is null on the last page.
PAGE = obj(items={"type": "array", "items": OBJECT}, next_cursor={"type": ["string", "null"]})


class RouteOptions(TypedDict, total=False):
    body: type[BaseModel] | None  # the request body's model
    # A body that is not JSON (an import's CSV): each media type taken, with a short example.
    accepts: dict[str, str] | None
    # For routes that authorise themselves (role PUBLIC to the middleware): who may call, for the docs.
    access: str | None
    status: int  # the answer when all goes well
    response: dict[str, Any] | None  # its JSON schema, where one is given
    also: tuple[int, ...]  # other statuses answered with the same content (readyz's 503)
    content: str | None  # its media type; None for an empty body
    problems: tuple[str, ...]  # catalogue codes beyond those the route's shape implies (openapi.py)
    query: tuple[Param, ...]
    summary: str | None  # a sentence for the docs; else the docstring's first line
    # A page's form posts here: a browser (Accept: text/html) gets pages and a 303 See Other,
    # any other client the documented JSON and problems.
    form: bool


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    role: Role | None = Role.member
    body: type[BaseModel] | None = None
    accepts: dict[str, str] | None = None
    access: str | None = None
    status: int = 200
    response: dict[str, Any] | None = None
    also: tuple[int, ...] = ()
    content: str | None = JSON
    problems: tuple[str, ...] = ()
    query: tuple[Param, ...] = ()
    summary: str | None = None
    form: bool = False

    @property
    def path_params(self) -> list[str]:
        return PATH_PARAM.findall(self.path)


def _checking_ids(handler: Handler, path: str) -> Handler:
    """``handler``, first refusing a path whose client-chosen ids break the rule (422)."""
    names = [p for p in PATH_PARAM.findall(path) if p in CLIENT_ID_PARAMS]
    if not names:
        return handler

    @functools.wraps(handler)
    async def checked(request: web.Request) -> web.StreamResponse:
        for name in names:
            if not naming.is_valid(request.match_info[name]):
                raise invalid(name, naming.RULE)
        return await handler(request)

    return checked


class Routes:
    """A resource's routes; ``role`` is the lowest role allowed (``PUBLIC`` for none)."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(
        self, method: str, path: str, role: Role | None = Role.member, **options: Unpack[RouteOptions]
    ) -> Callable[[Handler], Handler]:
        if method == "DELETE" and "status" not in options:
            options["status"], options["content"] = 204, None

        def register(handler: Handler) -> Handler:
            served = _checking_ids(handler, path)
            setattr(served, ROLE_ATTR, role)
            self.routes.append(Route(method, path, served, role, **options))
            return handler

        return register

    def get(
        self, path: str, role: Role | None = Role.member, **options: Unpack[RouteOptions]
    ) -> Callable[[Handler], Handler]:
        return self.route("GET", path, role, **options)

    def post(
        self, path: str, role: Role | None = Role.member, **options: Unpack[RouteOptions]
    ) -> Callable[[Handler], Handler]:
        return self.route("POST", path, role, **options)

    def put(
        self, path: str, role: Role | None = Role.member, **options: Unpack[RouteOptions]
    ) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, role, **options)

    def delete(
        self, path: str, role: Role | None = Role.member, **options: Unpack[RouteOptions]
    ) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, role, **options)

    def patch(
        self, path: str, role: Role | None = Role.member, **options: Unpack[RouteOptions]
    ) -> Callable[[Handler], Handler]:
        return self.route("PATCH", path, role, **options)

    def add_to(self, app: web.Application) -> None:
        for r in self.routes:
            app.router.add_route(r.method, r.path, r.handler)
