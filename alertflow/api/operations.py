"""Operations: liveness, readiness, metrics, and the API's own description."""

from __future__ import annotations

import hmac
import html

from aiohttp import web

from ..cluster import ClusterCoordinator
from ..errors import CATALOGUE
from ..ops.metrics import metric
from ..storage.database import StorageFull
from . import openapi
from .context import services
from .headers import PAGE_POLICY
from .middleware import AUTH_LIMITER, admitted, bearer, json_response, refused
from .rate_limits import AuthFailureLimiter
from .routing import OBJECT, PUBLIC, STRING, Route, Routes, obj

api = Routes()
ROUTES = web.AppKey("routes", tuple[Route, ...])


@api.get("/healthz", role=PUBLIC, response=obj(status={"const": "ok"}))
async def healthz(request: web.Request) -> web.Response:
    """Answer while the process is alive."""
    return json_response({"status": "ok"})


@api.get("/readyz", role=PUBLIC, also=(503,), response=obj(status={"enum": ["ok", "unavailable"]}, checks=OBJECT))
async def readyz(request: web.Request) -> web.Response:
    """Say whether the database is writable, the workers are running and, on a cluster, the
    node hears the others (503 when not)."""
    svc = services(request)
    checks = {"database": "ok", "workers": "ok"}
    try:
        if svc.database.full:  # writes fail for lack of space: ready again once one can commit
            await svc.database.probe()
        else:
            await svc.database.write(lambda tx: None)  # an empty transaction: the writer can commit
    except StorageFull as exc:
        checks["database"] = f"full: {exc}"
    except Exception as exc:  # not writable: report it rather than fail the probe's parsing
        checks["database"] = f"error: {exc}"
    if svc.pools is None or not svc.pools.running:
        checks["workers"] = "not running"
    if isinstance(svc.coordinator, ClusterCoordinator) and not svc.coordinator.link.listening.is_set():
        # Deaf to the other nodes: their commits, inbox items and cache drops would pass it by.
        checks["cluster"] = "not listening to the other nodes"
    ok = all(v == "ok" for v in checks.values())
    return json_response({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)


@api.get(
    "/metrics",
    role=PUBLIC,
    content="text/plain",
    problems=("unauthorized", "rate-limited"),
)
async def metrics(request: web.Request) -> web.Response:
    """Serve Prometheus metrics: no tenant data, only totals; server.metrics_token restricts it."""
    svc = services(request)
    if svc.config.server.metrics_token:
        _scraper(request, svc.config.server.metrics_token)
    text = await svc.metrics.render(svc.database, svc.database.commits)
    text += _auth_metrics(request.app[AUTH_LIMITER])
    if isinstance(svc.coordinator, ClusterCoordinator):
        text += svc.coordinator.metrics()
    return web.Response(
        text=text, content_type="text/plain", charset="utf-8", headers={"X-Content-Type-Options": "nosniff"}
    )


def _scraper(request: web.Request, token: str) -> None:
    address = admitted(request)
    offered = bearer(request, "server.metrics_token")
    # Constant time: how much of a guess matched must not show in how long the answer takes.
    if not hmac.compare_digest(offered.encode(), token.encode()):
        raise refused(request, address, offered, "the metrics token is not valid")


def _auth_metrics(limiter: AuthFailureLimiter) -> str:
    lines: list[str] = []
    metric(
        lines,
        "alertflow_auth_failures_total",
        "counter",
        "Credentials refused as not valid (API keys, inbox tokens, the metrics token).",
        [("", limiter.failed_total)],
    )
    metric(
        lines,
        "alertflow_auth_blocks_total",
        "counter",
        "Client addresses blocked for too many failed authentications ([limits] auth_failures).",
        [("", limiter.blocked_total)],
    )
    return "\n".join(lines) + "\n"


@api.get("/openapi.json", role=PUBLIC, response=obj(openapi=STRING, paths=OBJECT))
async def openapi_json(request: web.Request) -> web.Response:
    """Serve this API's OpenAPI 3.1 description."""
    routes: tuple[Route, ...] = request.app[ROUTES]
    return json_response(openapi.document(routes))


@api.get("/docs", role=PUBLIC, content="text/html")
async def docs(request: web.Request) -> web.Response:
    """Serve the interactive API reference, a plain list of every route, and the problem catalogue."""
    routes: tuple[Route, ...] = request.app[ROUTES]
    spec = openapi.document(routes)
    rows = "".join(
        f"<tr><td><code>{m.upper()}</code></td><td><code>{html.escape(p)}</code></td>"
        f"<td>{op.get('x-alertflow-role', 'public')}</td><td>{html.escape(op['summary'])}</td></tr>"
        for p, ops in spec["paths"].items()
        for m, op in ops.items()
    )
    problems = "".join(
        f'<tr id="problem-{code}"><td><code>{code}</code></td><td>{status}</td><td>{html.escape(title)}</td></tr>'
        for code, (status, title) in CATALOGUE.items()
    )
    page = DOCS_PAGE.format(version=spec["info"]["version"], rows=rows, problems=problems)
    # Swagger UI's stylesheet draws its icons as data: SVG images; nothing else is loosened.
    policy = PAGE_POLICY.replace("img-src 'self'", "img-src 'self' data:")
    return web.Response(
        text=page, content_type="text/html", charset="utf-8", headers={"Content-Security-Policy": policy}
    )


DOCS_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>AlertFlow API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css">
<link rel="stylesheet" href="/static/page.css">
<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js" defer></script>
<script src="/static/docs.js" defer></script></head><body>
<h1>AlertFlow API <small>{version}</small></h1>
<p>Authenticate with <code>Authorization: Bearer &lt;api key&gt;</code> (the <em>Authorize</em> button below takes
one for <em>Try it out</em>). The machine-readable description is <a href="/openapi.json">/openapi.json</a>: it
imports into Postman (<em>Import</em>, then the URL) and other OpenAPI tools. Roles: member &lt; admin &lt; owner.
The guides (setup, onboarding, the queue, providers, operations, security) are at <a href="/docs/">/docs/</a>.</p>
<div id="reference"></div>
<details><summary>Every route on one page</summary>
<table><tr><th>Method</th><th>Path</th><th>Role</th><th>What</th></tr>{rows}</table></details>
<h2 id="problems">Problems</h2><p>Errors are <code>application/problem+json</code>; <code>type</code> links here.</p>
<table><tr><th>Type</th><th>Status</th><th>Title</th></tr>{problems}</table></body></html>"""
