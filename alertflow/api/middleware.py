"""The request pipeline: problem+json for every error, then authentication and roles."""

from __future__ import annotations

import functools
import hmac
import ipaddress
import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, Field, ValidationError
from pydantic_core import to_json

from .. import sessions, tenants
from ..errors import PROBLEM_CONTENT_TYPE, ApiError, from_validation, invalid
from ..sessions import SignedIn
from ..storage import tenant_rows
from ..storage.database import StorageFull, StorageUnavailable
from ..tenants import Principal, Role
from .context import services
from .rate_limits import AuthFailureLimiter
from .routing import ROLE_ATTR

log = logging.getLogger("alertflow.api")
PRINCIPAL = web.RequestKey("principal", Principal)
# Set beside PRINCIPAL when a session cookie, not a key, authenticated the request.
SIGNED_IN = web.RequestKey("signed_in", SignedIn)
# Methods that change state: with a session they must repeat its CSRF token.
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_HEADER = "X-CSRF-Token"
AUTH_LIMITER = web.AppKey("auth_limiter", AuthFailureLimiter)
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
# Nothing of the request was stored. The server looks for space again every second on its
# own, so a client's retry need not come sooner than this.
STORAGE_FULL_RETRY_SECONDS = 10
STORAGE_FULL = ApiError(
    "storage-full",
    "the server's disk is full: nothing of this request was stored; retry once space is freed",
    headers={"Retry-After": str(STORAGE_FULL_RETRY_SECONDS)},
)
# The database could not be reached (a PostgreSQL restart or fail-over): nothing of the
# request is known to be stored. The backend reconnects within seconds.
STORAGE_UNAVAILABLE_RETRY_SECONDS = 5
M = TypeVar("M", bound=BaseModel)
MIB = 1024 * 1024
# The longest URL and header line we read. aiohttp refuses longer ones itself, before any
# middleware runs, with a plain-text 400; so its parser is let read up to PARSER_LINE_BYTES
# and the middleware refuses at these limits with problem+json. (Past PARSER_LINE_BYTES
# aiohttp still answers plain text: no hook reaches its parser's errors.)
MAX_URL_BYTES = MAX_HEADER_BYTES = 8190  # aiohttp's own defaults
MAX_HEADERS = 128
PARSER_LINE_BYTES = 64 * 1024
PARSER_LIMITS = {
    "max_line_size": PARSER_LINE_BYTES,
    "max_field_size": PARSER_LINE_BYTES,
    "max_headers": 4 * MAX_HEADERS,
}


def problem(error: ApiError) -> web.Response:
    return web.Response(
        status=error.status,
        text=json.dumps(error.body()),
        content_type=PROBLEM_CONTENT_TYPE,
        headers=error.headers,
    )


@web.middleware
async def problems(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every error leaves as problem+json with a stable type."""
    try:
        check_size(request)
        return await handler(request)
    except ApiError as exc:
        return problem(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {404: "not-found", 405: "method-not-allowed", 413: "body-too-large"}.get(exc.status, "bad-request")
        # RFC 9110: a 405 lists the methods the resource has.
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return problem(ApiError(code, exc.reason, headers=allow))
    except StorageFull:
        return problem(STORAGE_FULL)
    except StorageUnavailable as exc:
        retry = {"Retry-After": str(STORAGE_UNAVAILABLE_RETRY_SECONDS)}
        return problem(
            ApiError(
                "unavailable", f"{exc}; retry (with the same Idempotency-Key: it may have been stored)", headers=retry
            )
        )
    except Exception:
        log.exception("unhandled error", extra={"path": request.path})
        return problem(ApiError("internal", "an internal error occurred; it has been logged"))


def check_size(request: web.Request) -> None:
    """414 for a URL, 431 for a header line or too many headers, past what we read (see MAX_URL_BYTES)."""
    if len(request.raw_path) > MAX_URL_BYTES:
        raise ApiError("uri-too-long", f"the URL is longer than {MAX_URL_BYTES} bytes")
    if len(request.raw_headers) > MAX_HEADERS:
        raise ApiError("headers-too-large", f"the request has more than {MAX_HEADERS} headers")
    for name, value in request.raw_headers:
        if len(name) + len(value) + 2 > MAX_HEADER_BYTES:
            raise ApiError("headers-too-large", f"a header line is longer than {MAX_HEADER_BYTES} bytes")


@web.middleware
async def authenticate(request: web.Request, handler: Any) -> web.StreamResponse:
    """Checks the caller, by key or session, against the role the route requires (see routing.Routes)."""
    route_handler = getattr(request.match_info, "handler", None)
    required: Role | None = getattr(route_handler, ROLE_ATTR, None)
    if required is None:
        return await handler(request)
    principal = await request_principal(request)
    if principal.role < required:
        held = "your key is" if principal.key_id else "you are"
        raise ApiError("forbidden", f"this needs the {required.name} role; {held} {principal.role.name}")
    request[PRINCIPAL] = principal
    return await handler(request)


async def request_principal(request: web.Request) -> Principal:
    """The bearer key's principal when the request sends a key; else its session cookie's,
    which on a POST, PUT, PATCH or DELETE needs the session's CSRF token in X-CSRF-Token."""
    token = request.cookies.get(sessions.COOKIE)
    if "Authorization" in request.headers or not token:
        return await key_principal(request, bearer(request))
    signed_in = await signed_in_by(request, token)
    if request.method in UNSAFE_METHODS:
        check_csrf(signed_in, request.headers.get(CSRF_HEADER))
    if signed_in.principal is None:
        raise ApiError("forbidden", "there is no tenant yet: create one (POST /v1/tenants or alertflow init)")
    request[SIGNED_IN] = signed_in
    return signed_in.principal


async def signed_in_by(request: web.Request, token: str) -> SignedIn:
    """The live session of the cookie's token; 401 (counted like a bad key) when it has ended."""
    address = admitted(request)
    svc = services(request)
    signed_in = await sessions.resolve(svc.database, token, svc.clock.now(), svc.config.sessions)
    if signed_in is None:
        request.app[AUTH_LIMITER].failed(address, "")
        # The browser is told to drop the cookie, so it stops sending a dead session.
        expired = f"{sessions.COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
        raise ApiError("unauthorized", "the session has ended: sign in again", headers={"Set-Cookie": expired})
    return signed_in


def check_csrf(signed_in: SignedIn, given: str | None) -> None:
    """403 unless ``given`` is the session's CSRF token (a page of another site cannot read it)."""
    if not given or not hmac.compare_digest(given.encode(), signed_in.csrf_token.encode()):
        raise ApiError("forbidden", f"send the session's CSRF token in {CSRF_HEADER} (GET /v1/session shows it)")


def bearer(request: web.Request, what: str = "api key") -> str:
    """The credential of ``Authorization: Bearer ...``: an API key or, for inbox routes, a token."""
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() != "bearer" or not credential.strip():
        raise ApiError("unauthorized", f"send 'Authorization: Bearer <{what}>'")
    return credential.strip()


def client_address(request: web.Request) -> str:
    """The address failed authentications are counted against (see :func:`forwarded_client`)."""
    trusted = services(request).config.server.trusted_proxies
    return forwarded_client(request.remote or "", request.headers.getall("X-Forwarded-For", []), trusted)


def forwarded_client(peer: str, forwarded_for: Iterable[str], trusted: Sequence[IPNetwork]) -> str:
    """The peer; or, while the address at hand is a trusted proxy, the one it forwarded for.

    Each proxy appends the address it was reached from, so ``X-Forwarded-For`` is read from the
    right, and the first address that is not a trusted proxy is the client: whatever stands to
    its left, the client wrote itself.
    """
    client = _ip(peer)
    if client is None:  # not an IP peer (a Unix socket): nothing to look up
        return peer
    hops = [hop.strip() for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        if not any(client in network for network in trusted):
            break
        forwarded = _ip(hop)
        if forwarded is None:  # garbage in the header: the last proxy is all that is known
            break
        client = forwarded
    return _text(client)


# The same few clients on every request: each str() of an address formats it anew.
_text = functools.lru_cache(maxsize=4096)(str)


def is_https(request: web.Request) -> bool:
    """Whether the browser reached us over https: directly, by the word of a trusted proxy
    (``X-Forwarded-Proto``, as the nginx site in packaging/ sets it), or by ``public_url``."""
    server = services(request).config.server
    if request.secure or (server.public_url or "").lower().startswith("https:"):
        return True
    peer = _ip(request.remote or "")
    if peer is None or not any(peer in network for network in server.trusted_proxies):
        return False
    # The first value is what the outermost proxy saw; only a trusted peer's word is taken.
    return request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower() == "https"


# Peers repeat (a proxy, a tenant's backend): each request parsed the same few addresses.
@functools.lru_cache(maxsize=4096)
def _ip(text: str) -> IPAddress | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    # A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; they are counted as IPv4.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        return ip.ipv4_mapped
    return ip


def admitted(request: web.Request) -> str:
    """The client's address, once it is not blocked for failed authentications (429 while it is)."""
    address = client_address(request)
    request.app[AUTH_LIMITER].check(address)
    return address


def refused(request: web.Request, address: str, credential: str, detail: str) -> ApiError:
    """A 401 for a credential that is not valid, counted against the client's address."""
    request.app[AUTH_LIMITER].failed(address, credential)
    return ApiError("unauthorized", detail)


async def key_principal(request: web.Request, key: str) -> Principal:
    address = admitted(request)
    svc = services(request)
    digest = tenants.hash_key(key)
    principal: Principal | None = svc.auth_cache.peek(digest)
    if principal is None:
        holder = await tenant_rows.key_holder(svc.database, digest)
        principal = tenants.principal_of(holder) if holder else None
        # Only keys that exist are remembered: with misses cached, every made-up key a client
        # sent stayed in memory for good. A miss is a database read, and the failure limit
        # bounds how many of those one address can cause.
        if principal is not None:
            svc.auth_cache.put(digest, principal)
    if principal is None or principal.key_id is None:  # a key's principal always names its key
        raise refused(request, address, key, "the API key is not valid")
    svc.key_usage.seen(principal.key_id)
    return principal


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


async def read_body(request: web.Request, limit_mb: float | None = None, json_only: bool = True) -> bytes:
    """The raw JSON body: 415 unless JSON (or ``json_only`` is off: Amazon SNS posts JSON as
    text/plain), 413 over the limit."""
    limit = int((limit_mb or services(request).config.server.max_body_mb) * MIB)
    content_type = request.content_type  # parsed from the header on each read
    if json_only and content_type != "application/json" and not content_type.endswith("+json"):
        raise ApiError("unsupported-media-type", f"send Content-Type: application/json (got {content_type!r})")
    return await read_limited(request, limit)


async def read_limited(request: web.Request, limit: int) -> bytes:
    """The raw body, whatever its type: 413 past ``limit`` bytes, refused before it is read
    when Content-Length says so."""
    length = request.content_length
    if length is not None and length > limit:
        raise ApiError("body-too-large", f"the body is larger than {limit} bytes")
    # read(n) returns what has arrived, up to n: a large body comes in several pieces. A small
    # one has mostly arrived with its headers, and then one read is all it takes.
    first = await request.content.read(limit + 1)
    if len(first) == length or not first:
        return first
    raw = bytearray(first)
    while len(raw) <= limit and (chunk := await request.content.read(limit + 1 - len(raw))):
        raw += chunk
    if len(raw) > limit:
        raise ApiError("body-too-large", f"the body is larger than {limit} bytes")
    return bytes(raw)


def malformed(detail: object) -> ApiError:
    return ApiError("malformed-json", f"the body is not valid JSON: {detail}")


async def read_json(request: web.Request, limit_mb: float | None = None) -> Any:
    """The body as JSON: 415 unless JSON, 413 over the limit, 400 when it does not parse."""
    try:
        return json.loads(await read_body(request, limit_mb))
    except (ValueError, UnicodeDecodeError) as exc:
        raise malformed(exc) from None


async def read_model(request: web.Request, model: type[M], limit_mb: float | None = None) -> M:
    """Parsed and validated in one pass by pydantic-core (no json.loads, then a dict walk)."""
    raw = await read_body(request, limit_mb)
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        bad_json = next((e for e in exc.errors() if e["type"] == "json_invalid"), None)
        if bad_json is not None:
            raise malformed(bad_json["msg"]) from None
        raise from_validation(exc) from None


def read_only() -> Any:
    """A field GET shows that a PUT body may carry back unchanged: accepted, then ignored."""
    return Field(None, exclude=True, json_schema_extra={"readOnly": True}, description="shown by GET; ignored")


def same_as_path(request: web.Request, field: str, given: str | None, param: str | None = None) -> None:
    """A PUT body may name its own resource, as GET shows it; if it does, it must be the path's."""
    expected = request.match_info[param or field]
    if given is not None and given != expected:
        raise invalid(field, f"must be {expected!r}, as in the path, or be left out")


def json_response(data: Any, status: int = 200) -> web.Response:
    # pydantic-core's encoder: a fifth of json.dumps's time, on nearly every response.
    return web.Response(status=status, body=to_json(data), content_type="application/json", charset="utf-8")
