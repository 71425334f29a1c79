"""The headers browsers act on, added to every response as it is sent (``on_response_prepare``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

# Our pages (the dashboard, /docs, unsubscribe pages) load their scripts and stylesheets from
# /static and talk to the API on this origin. Nothing runs or styles inline, so markup that
# slips into a page (a template's output, a recipient's name) cannot run script, and no other
# site may frame a page to trick a click out of an operator.
PAGE_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
# The dashboard also frames one kind of page of ours: a captured email's preview.
DASHBOARD_POLICY = f"{PAGE_POLICY}; frame-src 'self'"
# A captured email's HTML (GET /v1/outbox/{id}/html) is the tenant's markup, not ours: its inline
# styles apply, and nothing else loads or runs. Remote images stay blocked, so a tracking pixel
# never learns that an operator opened the preview. `sandbox` (no scripts, forms nor origin)
# holds even when the link is opened outside the dashboard's sandboxed frame.
EMAIL_PREVIEW_POLICY = "; ".join(
    ["default-src 'none'", "style-src 'unsafe-inline'", "img-src data:", "frame-ancestors 'self'", "sandbox"]
)
# An HTML answer whose route needs a policy other than PAGE_POLICY sets it here.
POLICY = web.RequestKey("page_policy", str)
# Everything else is data (JSON, problem+json, metrics text): opened in a tab, it loads nothing.
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"
# Unsubscribe links carry a signed token in their path: no page may pass its URL on.
REFERRER_POLICY = "no-referrer"
# Two years, as hstspreload.org asks; not includeSubDomains: other hosts of the operator's
# domain are not ours to commit to HTTPS.
HSTS = "max-age=63072000"

Hook = Callable[[web.Request, web.StreamResponse], Awaitable[None]]


def security_headers(public_url: str | None) -> Hook:
    """The hook for ``app.on_response_prepare``; HSTS only when browsers reach us over https."""
    common = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": REFERRER_POLICY}
    if public_url and urlsplit(public_url).scheme == "https":
        common["Strict-Transport-Security"] = HSTS

    async def add(request: web.Request, response: web.StreamResponse) -> None:
        headers = dict(common)
        # A 304 has no content type, and a browser lays its headers over the page it kept: the
        # data policy there would block that page's scripts on every reload. Its kept policy stands.
        if response.status != 304:
            html = response.content_type == "text/html"
            headers["Content-Security-Policy"] = request.get(POLICY, PAGE_POLICY) if html else DATA_POLICY
        for name, value in headers.items():
            response.headers.setdefault(name, value)

    return add
