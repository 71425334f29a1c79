"""The bundled dashboard: one page plus static assets, talking to the REST API with a key."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from aiohttp import web

from .headers import DASHBOARD_POLICY, POLICY
from .routing import PUBLIC, Routes

api = Routes()
# web/ sits at the top of the source tree; the package reaches it through a link (alertflow/web),
# and wheels and the frozen build carry it as package data.
WEB_DIR = Path(str(resources.files("alertflow").joinpath("web")))
STATIC_DIR = WEB_DIR / "static"


@api.get("/", role=PUBLIC, content="text/html")
async def dashboard(request: web.Request) -> web.FileResponse:
    """Serve the dashboard (history, analytics, templates, dead letters)."""
    request[POLICY] = DASHBOARD_POLICY
    return web.FileResponse(WEB_DIR / "templates" / "dashboard.html")
