"""Signing in: the form, the session cookie, CSRF on unsafe requests, timeouts, failed
sign-ins limited per address and per account without telling whether an email exists."""

from __future__ import annotations

from alertflow.api.middleware import CSRF_HEADER
from alertflow.errors import PROBLEM_CONTENT_TYPE
from tests.conftest import FakeClock, StartApp
from tests.signin_support import AS_BROWSER, PASSWORD, add_member, browsers, message

USER = {"email": "ann@example.com"}
START = 1_800_000_000.0


async def test_the_login_page_is_a_form_without_script_under_the_page_policy(start_app: StartApp) -> None:
    app = await start_app()
    resp = await app.client.get("/login")
    page = await resp.text()
    assert resp.status == 200 and resp.content_type == "text/html"
    assert '<form class="stacked" method="post" action="/login">' in page
    assert 'name="email"' in page and 'name="password"' in page and "<script" not in page
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_signing_in_sets_a_session_cookie_and_lands_on_the_dashboard(start_app: StartApp) -> None:
    app = await start_app()
    member_id = await add_member(app, "ann@example.com", "admin")
    async with browsers(app) as new:
        browser = new()
        resp = await browser.sign_in("Ann@Example.com ")  # as typed: case and spaces do not matter
        assert resp.status == 303 and resp.headers["Location"] == "/"
        cookie = resp.headers["Set-Cookie"]
        assert cookie.startswith("alertflow_session=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert "Path=/" in cookie and "Secure" not in cookie, "plain http: a Secure cookie would never come back"
        who = await (await browser.call("GET", "/v1/session")).json()
        assert who["member_id"] == member_id and who["email"] == "ann@example.com"
        assert who["tenant_id"] == app.tenant_id and who["role"] == "admin" and who["operator"] is False
        [name] = await app.rows("SELECT name FROM tenants WHERE id = ?", (app.tenant_id,))
        assert who["tenant_name"] == name[0], "the dashboard's header names the tenant"
        assert who["csrf_token"] and who["key_id"] is None
        [csrf] = [c for c in resp.headers.getall("Set-Cookie") if c.startswith("alertflow_csrf=")]
        assert csrf.startswith(f"alertflow_csrf={who['csrf_token']};") and "HttpOnly" not in csrf, "the page reads it"
        put = await browser.call("PUT", "/v1/users/u1", USER)
        assert put.status == 200, await put.text()
        assert (await app.call("GET", "/v1/users/u1")).status == 200, "the session wrote into its tenant"
        stored = await app.rows("SELECT token_hash FROM sessions")
        assert [r[0] for r in stored] != [browser.cookie()], "only the token's hash is stored"


async def test_a_key_says_who_it_is_without_a_csrf_token(start_app: StartApp) -> None:
    app = await start_app()
    who = await (await app.call("GET", "/v1/session", "member")).json()
    assert who["role"] == "member" and who["key_id"] and who["member_id"] is None and who["csrf_token"] is None


async def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(start_app: StartApp) -> None:
    app = await start_app()
    await add_member(app, "ann@example.com")
    await add_member(app, "invited@example.com", password=None)  # has not set one yet
    async with browsers(app) as new:
        answers = []
        for email, password in [
            ("ann@example.com", "not the password at all"),
            ("nobody@example.com", PASSWORD),
            ("invited@example.com", PASSWORD),
            ("", ""),
        ]:
            resp = await new().sign_in(email, password)
            answers.append((resp.status, message(await resp.text()), "Set-Cookie" in resp.headers))
        assert answers == [(401, "The email or the password is wrong.", False)] * 4


async def test_failed_sign_ins_from_one_address_are_refused_with_429_and_retry_after(start_app: StartApp) -> None:
    app = await start_app(limits={"auth_failures": 3, "auth_block_seconds": 120})
    await add_member(app, "ann@example.com")
    async with browsers(app) as new:
        browser = new()
        for i in range(3):  # different accounts: the address is what is counted
            assert (await browser.sign_in(f"guess{i}@example.com")).status == 401
        blocked = await browser.sign_in("ann@example.com")
        assert blocked.status == 429 and blocked.headers["Retry-After"] == "120"
        assert message(await blocked.text()) == "Too many failed sign-ins. Try again in 2 minutes."
        assert "Set-Cookie" not in blocked.headers, "the right password is refused too while blocked"
        keyed = await app.call("GET", "/v1/users/u1")
        assert keyed.status == 404, "failed sign-ins do not block the address's API keys"


async def test_failed_sign_ins_to_one_account_block_it_from_every_address_known_or_not(start_app: StartApp) -> None:
    app = await start_app(
        server={"trusted_proxies": ["127.0.0.1"]}, sessions={"account_failures": 2, "account_block_seconds": 60}
    )
    await add_member(app, "ann@example.com")
    async with browsers(app) as new:
        answers = {}
        for email in ("ann@example.com", "nobody@example.com"):
            for i in range(2):
                via = {"X-Forwarded-For": f"10.0.{len(answers)}.{i}"}
                assert (await new().sign_in(email, "wrong guess number", headers=via)).status == 401
            resp = await new().sign_in(email, headers={"X-Forwarded-For": "10.9.9.9"})
            answers[email] = (resp.status, resp.headers.get("Retry-After"), message(await resp.text()))
        assert answers["ann@example.com"] == (429, "60", "Too many failed sign-ins. Try again in 1 minute.")
        assert answers["nobody@example.com"] == answers["ann@example.com"], "an unknown email is limited alike"
        other = await new().sign_in("bob@example.com", headers={"X-Forwarded-For": "10.9.9.9"})
        assert other.status == 401, "another account from the same address is not blocked"


async def test_an_unsafe_request_with_a_session_needs_its_csrf_token(start_app: StartApp) -> None:
    app = await start_app()
    await add_member(app, "ann@example.com")
    async with browsers(app) as new:
        browser = new()
        await browser.sign_in("ann@example.com")
        for headers in ({}, {CSRF_HEADER: "forged"}):
            resp = await browser.call("PUT", "/v1/users/u1", USER, csrf=False, headers=headers)
            assert resp.status == 403 and resp.content_type == PROBLEM_CONTENT_TYPE
            assert CSRF_HEADER in (await resp.json())["detail"]
        assert (await app.call("GET", "/v1/users/u1")).status == 404, "the refused request wrote nothing"
        assert (await browser.call("GET", "/v1/users/u1", csrf=False)).status == 404, "a GET needs no token"
        assert (await browser.call("PUT", "/v1/users/u1", USER)).status == 200
        assert (await app.call("PUT", "/v1/users/u2", "owner", USER)).status == 200, "a key needs no CSRF token"


async def test_a_session_ends_after_its_idle_timeout(start_app: StartApp) -> None:
    clock = FakeClock(START)
    app = await start_app(clock=clock, sessions={"idle_timeout_seconds": 600, "absolute_timeout_seconds": 3600})
    await add_member(app, "ann@example.com")
    async with browsers(app) as new:
        browser = new()
        await browser.sign_in("ann@example.com")
        clock.t += 599
        assert (await browser.call("GET", "/v1/session")).status == 200, "used within the idle time"
        clock.t += 599
        assert (await browser.call("GET", "/v1/session")).status == 200, "each use starts the idle time again"
        clock.t += 600
        ended = await browser.call("GET", "/v1/session")
        assert ended.status == 401 and "sign in again" in (await ended.json())["detail"]
        assert "Max-Age=0" in ended.headers["Set-Cookie"], "the browser is told to drop the dead cookie"
        assert await app.rows("SELECT 1 FROM sessions") == [], "an ended session is deleted"


async def test_a_session_ends_at_its_absolute_timeout_however_busy(start_app: StartApp) -> None:
    clock = FakeClock(START)
    app = await start_app(clock=clock, sessions={"idle_timeout_seconds": 600, "absolute_timeout_seconds": 1800})
    await add_member(app, "ann@example.com")
    async with browsers(app) as new:
        browser = new()
        await browser.sign_in("ann@example.com")
        for _ in range(5):
            clock.t += 300
            assert (await browser.call("GET", "/v1/session")).status == 200
        clock.t += 300
        assert (await browser.call("GET", "/v1/session")).status == 401


async def test_signing_out_ends_the_session_and_needs_its_csrf_token(start_app: StartApp) -> None:
    app = await start_app()
    await add_member(app, "ann@example.com")
    async with browsers(app) as new:
        browser = new()
        await browser.sign_in("ann@example.com")
        forged = await browser.session.post(
            browser.url("/logout"), data={"csrf_token": "x"}, allow_redirects=False, headers=AS_BROWSER
        )
        assert forged.status == 403, "another site's form cannot sign the member out"
        assert (await browser.call("GET", "/v1/session")).status == 200
        out = await browser.session.post(
            browser.url("/logout"), data={"csrf_token": browser.csrf or ""}, allow_redirects=False, headers=AS_BROWSER
        )
        assert out.status == 303 and out.headers["Location"] == "/login"
        assert browser.cookie() in (None, ""), "the cookie is dropped"
        assert await app.rows("SELECT 1 FROM sessions") == []


async def test_the_cookie_is_secure_when_a_trusted_proxy_says_the_browser_used_https(start_app: StartApp) -> None:
    app = await start_app(server={"trusted_proxies": ["127.0.0.1"]})
    await add_member(app, "ann@example.com")
    async with browsers(app) as new:
        resp = await new().sign_in("ann@example.com", headers={"X-Forwarded-Proto": "https"})
        assert resp.status == 303 and "Secure" in resp.headers["Set-Cookie"]
        resp = await new().sign_in("ann@example.com", headers={"X-Forwarded-Proto": "http"})
        assert "Secure" not in resp.headers["Set-Cookie"]


async def test_an_untrusted_peer_cannot_claim_https(start_app: StartApp) -> None:
    app = await start_app()  # no trusted proxies: the header is the client's own word
    await add_member(app, "ann@example.com")
    async with browsers(app) as new:
        resp = await new().sign_in("ann@example.com", headers={"X-Forwarded-Proto": "https"})
        assert resp.status == 303 and "Secure" not in resp.headers["Set-Cookie"]


async def test_a_script_signs_in_with_the_same_form_and_gets_json_and_problems(start_app: StartApp) -> None:
    app = await start_app()
    member_id = await add_member(app, "ann@example.com", "admin")
    async with browsers(app) as new:
        script = new()
        form = {"email": "ann@example.com", "password": "not the password at all"}
        wrong = await script.session.post(script.url("/login"), data=form, headers={"Accept": "application/json"})
        assert wrong.status == 401 and wrong.content_type == PROBLEM_CONTENT_TYPE
        assert (await wrong.json())["detail"] == "The email or the password is wrong."
        form["password"] = PASSWORD
        signed_in = await script.session.post(script.url("/login"), data=form, headers={"Accept": "application/json"})
        who = await signed_in.json()
        assert signed_in.status == 200 and who["member_id"] == member_id and who["csrf_token"]
        put = await script.session.put(
            script.url("/v1/users/u1"), json=USER, headers={"X-CSRF-Token": who["csrf_token"]}
        )
        assert put.status == 200, await put.text()
        out = await script.session.post(script.url("/logout"), headers={"X-CSRF-Token": who["csrf_token"]})
        assert out.status == 204
        assert (await script.session.get(script.url("/v1/session"))).status == 401
