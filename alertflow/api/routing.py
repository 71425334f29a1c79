"""Route tables that carry each handler's required role, enforced by one middleware."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from pydantic import BaseModel

from ..tenants import Role

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ROLE_ATTR = "__alertflow_role__"
PUBLIC = None  # a route anyone may call (health checks, signed links, provider callbacks)


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    role: Role | None = Role.member
    body: type[BaseModel] | None = None  # the request body's model, for /openapi.json
    # For routes that authorise themselves (role PUBLIC to the middleware): who may call, for the docs.
    access: str | None = None


class Routes:
    """A resource's routes; ``role`` is the lowest role allowed (``PUBLIC`` for none)."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def route(
        self,
        method: str,
        path: str,
        role: Role | None = Role.member,
        body: type[BaseModel] | None = None,
        access: str | None = None,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            setattr(handler, ROLE_ATTR, role)
            self.routes.append(Route(method, path, handler, role, body, access))
            return handler

        return register

    def get(
        self, path: str, role: Role | None = Role.member, access: str | None = None
    ) -> Callable[[Handler], Handler]:
        return self.route("GET", path, role, access=access)

    def post(
        self, path: str, role: Role | None = Role.member, body: type[BaseModel] | None = None, access: str | None = None
    ) -> Callable[[Handler], Handler]:
        return self.route("POST", path, role, body, access)

    def put(
        self, path: str, role: Role | None = Role.member, body: type[BaseModel] | None = None
    ) -> Callable[[Handler], Handler]:
        return self.route("PUT", path, role, body)

    def delete(
        self, path: str, role: Role | None = Role.member, access: str | None = None
    ) -> Callable[[Handler], Handler]:
        return self.route("DELETE", path, role, access=access)

    def add_to(self, app: web.Application) -> None:
        for r in self.routes:
            app.router.add_route(r.method, r.path, r.handler)
