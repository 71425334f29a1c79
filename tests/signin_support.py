"""What the sign-in tests share: members stored with a password, and browsers, each with its
own cookie jar, that sign in through the form and call the API with their session."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp

from alertflow import members, passwords
from alertflow.storage.database import Tx
from alertflow.tenants import Role
from tests.conftest import Harness

PASSWORD = "correct horse battery staple"
# What a browser's form post asks for: the server answers it with pages and redirects.
AS_BROWSER = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
MESSAGE = re.compile(r'<p id="message"[^>]*>([^<]*)</p>')


async def add_member(app: Harness, email: str, role: str | None = "owner", password: str | None = PASSWORD) -> str:
    """A member of the harness's tenant with ``role`` (an operator when None), its password set."""
    hashed = await passwords.hash_password(password) if password else None

    def add(tx: Tx) -> str:
        tenant = app.tenant_id if role else None
        member_id = members.create(tx, email, tenant, Role[role] if role else None, app.svc.clock.now())
        if hashed:
            members.set_password(tx, member_id, hashed)
        return member_id

    return await app.svc.database.write(add)


def message(page: str) -> str:
    """The sign-in page's message line."""
    found = MESSAGE.search(page)
    assert found, page
    return found.group(1)


class Browser:
    """One browser: its own cookies, the session's CSRF token once signed in."""

    def __init__(self, app: Harness, session: aiohttp.ClientSession) -> None:
        self.app, self.session = app, session
        self.csrf: str | None = None

    def url(self, path: str) -> str:
        return str(self.app.client.make_url(path))

    async def sign_in(self, email: str, password: str = PASSWORD, **kw: Any) -> aiohttp.ClientResponse:
        headers = {**AS_BROWSER, **kw.pop("headers", {})}
        resp = await self.session.post(
            self.url("/login"), data={"email": email, "password": password}, allow_redirects=False, headers=headers
        )
        await resp.read()
        # A Secure cookie never goes back over the test's plain http.
        if resp.status == 303 and "Secure" not in resp.headers["Set-Cookie"]:
            who = await self.call("GET", "/v1/session")
            assert who.status == 200, await who.text()
            self.csrf = (await who.json())["csrf_token"]
        return resp

    async def call(self, method: str, path: str, body: Any = None, csrf: bool = True, **kw: Any) -> Any:
        headers = dict(kw.pop("headers", {}))
        if csrf and self.csrf:
            headers.setdefault("X-CSRF-Token", self.csrf)
        resp = await self.session.request(method, self.url(path), json=body, headers=headers, **kw)
        await resp.read()
        return resp

    def cookie(self) -> str | None:
        found = [c.value for c in self.session.cookie_jar if c.key == "alertflow_session"]
        return found[0] if found else None


Browsers = Callable[[], Browser]


@asynccontextmanager
async def browsers(app: Harness) -> AsyncIterator[Browsers]:
    """``new()`` makes a browser; all are closed at the end."""
    opened: list[aiohttp.ClientSession] = []

    def new() -> Browser:
        # unsafe: the test server is an IP address, whose cookies a default jar refuses.
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        opened.append(session)
        return Browser(app, session)

    try:
        yield new
    finally:
        for session in opened:
            await session.close()
