"""Sign-in for people: the login, logout and set-password pages (invites and resets use the
same one-time link), and ``/v1/session``, which says who is calling and switches an
operator's tenant. Pages are server-rendered forms: no script, under the page policy."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import jinja2
from aiohttp import web
from multidict import MultiDictProxy
from pydantic import BaseModel, ConfigDict, Field

from .. import members, passwords, sessions
from ..config import LimitsConfig, SessionsConfig
from ..errors import ApiError, invalid
from ..sessions import SignedIn
from ..storage import member_rows, tenant_rows
from ..storage.database import Tx
from ..tenants import Principal
from . import audit
from .context import services
from .dashboard import WEB_DIR
from .middleware import (
    CSRF_HEADER,
    SIGNED_IN,
    check_csrf,
    client_address,
    is_https,
    json_response,
    principal,
    read_model,
)
from .rate_limits import AuthFailureLimiter
from .routing import PUBLIC, STRING, Routes, obj

api = Routes()
# Failed sign-ins per client address ([limits] auth_*, counted apart from bad API keys, so a
# mistyped password never blocks the address's API clients) and per email ([sessions]).
LOGIN_LIMITER = web.AppKey("login_limiter", AuthFailureLimiter)
ACCOUNT_LIMITER = web.AppKey("account_limiter", AuthFailureLimiter)
PAGES = jinja2.Environment(loader=jinja2.FileSystemLoader(WEB_DIR / "templates"), autoescape=True)
HTML = "text/html"
# A sign-in or set-password form is a few hundred bytes; anything far larger is not one.
MAX_FORM_BYTES = 16 * 1024
# One answer for an unknown email, a member without a password yet and a wrong password.
WRONG = "The email or the password is wrong."
CSRF_FIELD = "csrf_token"
SESSION_VIEW = obj(
    tenant_id=STRING,
    tenant_name={"type": ["string", "null"]},
    role=STRING,
    operator={"type": "boolean"},
    member_id={"type": ["string", "null"]},
    email={"type": ["string", "null"]},
    key_id={"type": ["string", "null"]},
    csrf_token={"type": ["string", "null"]},
)


def account_limits(config: SessionsConfig) -> LimitsConfig:
    """The [sessions] account_* settings in the shape the failure limiter counts with."""
    return LimitsConfig(
        auth_failures=config.account_failures,
        auth_failure_window_seconds=config.account_failure_window_seconds,
        auth_block_seconds=config.account_block_seconds,
    )


def page(title: str, status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> web.Response:
    text = PAGES.get_template("signin.html").render(title=title, **context)
    return web.Response(status=status, text=text, content_type=HTML, headers=headers)


def see_other(location: str) -> web.Response:
    """A 303 after a form's POST, so reloading the next page does not post the form again."""
    response = page("Continue", 303, link=location, link_text="Continue")
    response.headers["Location"] = location
    return response


async def read_form(request: web.Request) -> MultiDictProxy[Any]:
    if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
        raise ApiError("body-too-large", f"the form is larger than {MAX_FORM_BYTES} bytes")
    return await request.post()


def field(form: MultiDictProxy[Any], name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def login_page(status: int = 200, headers: dict[str, str] | None = None, **context: Any) -> web.Response:
    return page("Sign in to AlertFlow", status, headers, form="login", **context)


@api.get("/login", role=PUBLIC, content=HTML)
async def login_form(request: web.Request) -> web.Response:
    """Show the sign-in form."""
    if request.query.get("password") == "set":
        return login_page(message="Your password is set: sign in with it.")
    return login_page()


def wants_page(request: web.Request) -> bool:
    """A browser's form post (browsers ask for text/html); scripts get JSON and problems."""
    return "text/html" in request.headers.get("Accept", "")


@api.post(
    "/login",
    role=PUBLIC,
    response=SESSION_VIEW,
    form=True,
    problems=("unauthorized", "rate-limited", "body-too-large"),
)
async def login(request: web.Request) -> web.Response:
    """Sign in with the form's email and password: a session cookie, and a browser goes on to the dashboard."""
    svc = services(request)
    form = await read_form(request)
    email, password = members.normalise_email(field(form, "email")), field(form, "password")
    address = client_address(request)
    try:
        request.app[LOGIN_LIMITER].check(address)
        request.app[ACCOUNT_LIMITER].check(email)
    except ApiError as exc:
        if not wants_page(request):
            raise
        wait = math.ceil(int(exc.headers["Retry-After"]) / 60)
        message = f"Too many failed sign-ins. Try again in {wait} minute{'s' if wait > 1 else ''}."
        return login_page(429, exc.headers, email=email, message=message, error=True)
    member = await member_rows.find_by_email(svc.database, email) if email else None
    # An unknown email is checked against a stand-in hash: it takes as long and says the same.
    if not await passwords.verify(member.password_hash if member else None, password) or member is None:
        request.app[LOGIN_LIMITER].failed(address, email)
        request.app[ACCOUNT_LIMITER].failed(email, "")
        if member is not None and member.tenant_id is not None:  # else no tenant's log to write it in
            failed = audit.Note(member.tenant_id, audit.Actor("member", member.member_id), address, svc.clock.now())
            await svc.database.write(lambda tx: failed(tx, "member.sign_in_failed", ("member", member.member_id)))
        if not wants_page(request):
            raise ApiError("unauthorized", WRONG)
        return login_page(401, email=email, message=WRONG, error=True)
    now = svc.clock.now()

    def audit_sign_in(tx: Tx, tenant_id: str | None) -> None:
        if tenant_id is not None:  # an operator before any tenant exists has no log to be in
            kind = "operator" if member.operator else "member"
            entry = audit.Note(tenant_id, audit.Actor(kind, member.member_id), address, now)
            entry(tx, "member.sign_in", ("member", member.member_id))

    token, signed_in = await sessions.open_session(svc.database, member, now, svc.config.sessions, audit_sign_in)
    caller = signed_in.principal
    # No caller: an operator before any tenant exists, who has nothing to see but the redirect.
    if wants_page(request) or caller is None:
        response = see_other("/")
    else:
        response = json_response(await view(request, caller, signed_in))
    secure = is_https(request)
    response.set_cookie(sessions.COOKIE, token, path="/", httponly=True, samesite="Lax", secure=secure)
    response.set_cookie(sessions.CSRF_COOKIE, signed_in.csrf_token, path="/", samesite="Lax", secure=secure)
    return response


@api.post(
    "/logout",
    role=PUBLIC,
    status=204,
    content=None,
    form=True,
    problems=("forbidden", "body-too-large"),
)
async def logout(request: web.Request) -> web.Response:
    """End this browser's session (the form's csrf_token or X-CSRF-Token must be the session's)."""
    svc = services(request)
    token = request.cookies.get(sessions.COOKIE)
    signed_in = await sessions.resolve(svc.database, token, svc.clock.now(), svc.config.sessions) if token else None
    if signed_in is not None:
        form = await read_form(request)
        check_csrf(signed_in, request.headers.get(CSRF_HEADER) or field(form, CSRF_FIELD))
        await sessions.end(svc.database, signed_in.token_hash)
    response = see_other("/login") if wants_page(request) else web.Response(status=204)
    response.del_cookie(sessions.COOKIE, path="/")
    response.del_cookie(sessions.CSRF_COOKIE, path="/")
    return response


USED_OR_EXPIRED = "It has been used already or has expired. Ask an owner or operator for a new one."


def invalid_link(request: web.Request) -> web.Response:
    if not wants_page(request) and request.method == "POST":
        raise ApiError("not-found", f"this link cannot be used: {USED_OR_EXPIRED}")
    return page("This link cannot be used", 404, message=USED_OR_EXPIRED, error=True)


async def link_holder(request: web.Request) -> member_rows.MemberRow | None:
    svc = services(request)
    return await member_rows.link_holder(svc.database, members.hash_token(request.match_info["token"]), svc.clock.now())


def password_page(email: str, status: int = 200, message: str | None = None) -> web.Response:
    return page(
        "Set your password",
        status,
        form="password",
        email=email,
        min_length=passwords.MIN_LENGTH,
        message=message,
        error=bool(message),
    )


@api.get(members.LINK_PATH + "{token}", role=PUBLIC, access="the one-time link itself", also=(404,), content=HTML)
async def password_form(request: web.Request) -> web.Response:
    """Show the form that sets a password through an invite or reset link."""
    holder = await link_holder(request)
    return password_page(holder.email) if holder else invalid_link(request)


@api.post(
    members.LINK_PATH + "{token}",
    role=PUBLIC,
    access="the one-time link itself",
    status=204,
    content=None,
    form=True,
    problems=("validation", "body-too-large"),
)
async def set_password(request: web.Request) -> web.Response:
    """Set the password (form ``password`` and ``confirm``), once: the link is used up and every session ends."""
    svc = services(request)
    holder = await link_holder(request)
    if holder is None:
        return invalid_link(request)
    form = await read_form(request)
    password = field(form, "password")
    problem = passwords.problem(password)
    if problem or password != field(form, "confirm"):
        if not wants_page(request):
            raise invalid("password", problem) if problem else invalid("confirm", "must be the same as password")
        message = f"The password {problem}." if problem else "The two passwords differ."
        return password_page(holder.email, 422, message)
    hashed = await passwords.hash_password(password)
    token_hash, now = members.hash_token(request.match_info["token"]), svc.clock.now()

    def use(tx: Tx) -> bool:
        member_id = member_rows.use_link(tx, token_hash, now)
        if member_id is not None:
            members.set_password(tx, member_id, hashed)
        return member_id is not None

    # Two submissions at once: the write that uses the link first wins, the other is refused.
    if not await svc.database.write(use):
        return invalid_link(request)
    return see_other("/login?password=set") if wants_page(request) else web.Response(status=204)


# --- the JSON side ---------------------------------------------------------------------------


async def view(request: web.Request, caller: Principal, signed_in: SignedIn | None) -> dict[str, Any]:
    return {
        "tenant_id": caller.tenant_id,
        "tenant_name": await tenant_rows.tenant_name(services(request).database, caller.tenant_id),
        "role": caller.role.name,
        "operator": caller.operator,
        "member_id": caller.member_id,
        "email": signed_in.member.email if signed_in else None,
        "key_id": caller.key_id,
        "csrf_token": signed_in.csrf_token if signed_in else None,
    }


@api.get("/v1/session", response=SESSION_VIEW)
async def who_am_i(request: web.Request) -> web.Response:
    """Say who is calling: tenant and role, and for a session the member and its CSRF token."""
    return json_response(await view(request, principal(request), request.get(SIGNED_IN)))


class TenantChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant_id: str


@api.post("/v1/session/tenant", body=TenantChoice, access="an operator's session", response=SESSION_VIEW)
async def choose_tenant(request: web.Request) -> web.Response:
    """Switch the tenant an operator's session acts in."""
    svc = services(request)
    signed_in = request.get(SIGNED_IN)
    if signed_in is None or not signed_in.member.operator:
        raise ApiError("forbidden", "only an operator's session chooses its tenant")
    choice = await read_model(request, TenantChoice)

    def switch(tx: Tx) -> bool:
        if not tenant_rows.tenant_exists(tx, choice.tenant_id):
            return False
        member_rows.set_session_tenant(tx, signed_in.token_hash, choice.tenant_id)
        return True

    if not await svc.database.write(switch):
        raise invalid("tenant_id", "no tenant has this id (GET /v1/tenants lists them)")
    return json_response(await view(request, replace(principal(request), tenant_id=choice.tenant_id), signed_in))


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current_password: str = Field(max_length=passwords.MAX_LENGTH)
    new_password: str


@api.post("/v1/session/password", body=PasswordChange, access="a member's session", status=204, content=None)
async def change_password(request: web.Request) -> web.Response:
    """Change the signed-in member's password: every other session of theirs ends."""
    svc = services(request)
    signed_in = request.get(SIGNED_IN)
    if signed_in is None:
        raise ApiError("forbidden", "a key has no password: sign in to change yours")
    body = await read_model(request, PasswordChange)
    if problem := passwords.problem(body.new_password):
        raise invalid("new_password", problem)
    # Guesses at the current password through a stolen session count as failed sign-ins.
    request.app[ACCOUNT_LIMITER].check(signed_in.member.email)
    if not await passwords.verify(signed_in.member.password_hash, body.current_password):
        request.app[ACCOUNT_LIMITER].failed(signed_in.member.email, "")
        raise invalid("current_password", "is not your password")
    hashed = await passwords.hash_password(body.new_password)
    member_id, keep = signed_in.member.member_id, signed_in.token_hash
    await svc.database.write(lambda tx: members.set_password(tx, member_id, hashed, keep))
    return web.Response(status=204)
