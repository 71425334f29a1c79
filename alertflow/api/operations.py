"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from aiohttp import web

from ..services import services
from .middleware import json_response
from .routing import PUBLIC, Routes

api = Routes()


@api.get("/healthz", role=PUBLIC)
async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


@api.get("/readyz", role=PUBLIC)
async def readyz(request: web.Request) -> web.Response:
    svc = services(request)
    checks = {"database": "ok", "workers": "ok"}
    try:
        await svc.database.write(lambda conn: conn.execute("SELECT 1").fetchone())
    except Exception as exc:  # not writable: report it rather than fail the probe's parsing
        checks["database"] = f"error: {exc}"
    if svc.pools is None or not svc.pools.running:
        checks["workers"] = "not running"
    ok = all(v == "ok" for v in checks.values())
    return json_response({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)
