"""Members and operators: created from the CLI or the API with a one-time link that sets the
password, managed within the contract's role rules, and an operator's tenants."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import requests

from alertflow.errors import PROBLEM_CONTENT_TYPE
from tests.conftest import StartApp
from tests.process import ALERTFLOW, WAIT_SECONDS, Server, cli
from tests.signin_support import AS_BROWSER, PASSWORD, Browser, add_member, browsers, message

LINK = re.compile(r"^http://127\.0\.0\.1:8080/invite/[A-Za-z0-9_-]{43}$")


def alertflow(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ALERTFLOW, *args], cwd=cwd, input=stdin, capture_output=True, text=True, timeout=WAIT_SECONDS, check=False
    )


def link_path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


async def set_password(browser: Browser, url: str, password: str = PASSWORD, confirm: str | None = None) -> Any:
    data = {"password": password, "confirm": password if confirm is None else confirm}
    return await browser.session.post(browser.url(link_path(url)), data=data, allow_redirects=False, headers=AS_BROWSER)


def test_members_create_prints_a_one_time_link_or_sets_the_password_from_stdin(tmp_path: Path) -> None:
    cli("init", cwd=tmp_path)
    create = ["members", "create", "--email"]
    invited = json.loads(
        cli(*create, "Ann@Example.com", "--tenant", "default", "--role", "admin", "--json", cwd=tmp_path).stdout
    )
    assert set(invited) == {"member_id", "invite_url"} and LINK.match(invited["invite_url"])
    with_password = alertflow(
        *create, "op@example.com", "--operator", "--password-stdin", "--json", cwd=tmp_path, stdin=PASSWORD + "\n"
    )
    assert with_password.returncode == 0, with_password.stderr
    assert json.loads(with_password.stdout)["invite_url"] is None
    short = alertflow(*create, "b@example.com", "--operator", "--password-stdin", cwd=tmp_path, stdin="short\n")
    assert short.returncode == 2 and "at least 15 characters" in short.stderr
    again = alertflow(*create, "ann@example.com", "--operator", cwd=tmp_path)
    assert again.returncode == 1 and "is a member already" in again.stderr
    both = alertflow(*create, "c@example.com", "--operator", "--role", "admin", cwd=tmp_path)
    assert both.returncode == 2 and "--operator" in both.stderr
    reset = cli("members", "reset-password", "ann@example.com", cwd=tmp_path).stdout.strip()
    assert LINK.match(reset) and reset != invited["invite_url"]
    unknown = alertflow("members", "reset-password", "nobody@example.com", cwd=tmp_path)
    assert unknown.returncode == 1 and "nobody@example.com" in unknown.stderr


def test_the_first_run_prints_an_operator_invite_beside_the_owner_key(tmp_path: Path, servers: list[Server]) -> None:
    first = cli("init", cwd=tmp_path).stdout
    assert "Owner API key (shown once): af_" in first
    url = re.search(r"Operator operator@localhost: set a password at (\S+) ", first)
    assert url and LINK.match(url[1])
    assert "operator@localhost" not in cli("init", cwd=tmp_path).stdout, "only the first run invites"
    server = Server(tmp_path).start()  # init made the data dir: serve adds nothing and prints no link
    servers.append(server)
    page = requests.get(server.url + link_path(url[1]), timeout=WAIT_SECONDS)
    assert page.status_code == 200 and "operator@localhost" in page.text


async def test_an_invite_link_sets_the_password_once_and_then_signs_in(start_app: StartApp) -> None:
    app = await start_app(server={"public_url": "https://alerts.example.com/"})
    created = await app.call("POST", "/v1/members", "owner", {"email": "Bob@Example.com", "role": "member"})
    assert created.status == 201, await created.text()
    body = await created.json()
    assert body["invite_url"].startswith("https://alerts.example.com/invite/")
    async with browsers(app) as new:
        browser = new()
        form = await browser.session.get(browser.url(link_path(body["invite_url"])))
        assert form.status == 200 and "bob@example.com" in await form.text()
        differ = await set_password(browser, body["invite_url"], confirm=PASSWORD + "!")
        assert differ.status == 422 and message(await differ.text()) == "The two passwords differ."
        short = await set_password(browser, body["invite_url"], "too short")
        assert short.status == 422 and "at least 15 characters" in message(await short.text())
        assert (await browser.sign_in("bob@example.com")).status == 401, "no password before the link is used"
        done = await set_password(browser, body["invite_url"])
        assert done.status == 303 and done.headers["Location"] == "/login?password=set"
        again = await set_password(browser, body["invite_url"], "another long password here")
        assert again.status == 404, "the link works once"
        assert (await browser.session.get(browser.url(link_path(body["invite_url"])))).status == 404
        assert (await browser.sign_in("bob@example.com")).status == 303
        listed = await (await app.call("GET", "/v1/members", "admin")).json()
        assert [(m["email"], m["role"], m["password_set"]) for m in listed["items"]] == [
            ("bob@example.com", "member", True)
        ]


async def test_an_expired_invite_cannot_be_used(start_app: StartApp) -> None:
    from tests.conftest import FakeClock

    clock = FakeClock(1_800_000_000.0)
    app = await start_app(clock=clock, sessions={"invite_ttl_seconds": 3600})
    url = (await (await app.call("POST", "/v1/members", "owner", {"email": "b@example.com", "role": "admin"})).json())[
        "invite_url"
    ]
    clock.t += 3600
    async with browsers(app) as new:
        assert (await set_password(new(), url)).status == 404


async def test_a_new_password_ends_every_session_of_the_member(start_app: StartApp) -> None:
    app = await start_app()
    await add_member(app, "ann@example.com", "admin")
    async with browsers(app) as new:
        laptop, phone = new(), new()
        await laptop.sign_in("ann@example.com")
        await phone.sign_in("ann@example.com")
        reset = await app.svc.database.write(lambda tx: _reset_link(tx, "ann@example.com"))
        assert (await set_password(new(), reset, "a brand new long password")).status == 303
        for browser in (laptop, phone):
            assert (await browser.call("GET", "/v1/session")).status == 401
        assert (await new().sign_in("ann@example.com")).status == 401, "the old password is gone"
        assert (await new().sign_in("ann@example.com", "a brand new long password")).status == 303


async def test_changing_ones_password_ends_the_other_sessions_and_keeps_this_one(start_app: StartApp) -> None:
    app = await start_app(sessions={"account_failures": 2})
    await add_member(app, "ann@example.com", "admin")
    async with browsers(app) as new:
        laptop, phone = new(), new()
        await laptop.sign_in("ann@example.com")
        await phone.sign_in("ann@example.com")
        change = {"current_password": "not my password at all", "new_password": "a brand new long password"}
        wrong = await laptop.call("POST", "/v1/session/password", change)
        assert (await wrong.json())["errors"][0]["field"] == "current_password"
        short = await laptop.call("POST", "/v1/session/password", {**change, "new_password": "short"})
        assert (await short.json())["errors"][0]["field"] == "new_password"
        no_csrf = await laptop.call(
            "POST", "/v1/session/password", {**change, "current_password": PASSWORD}, csrf=False
        )
        assert no_csrf.status == 403
        assert (await phone.call("GET", "/v1/session")).status == 200, "nothing changed yet"
        done = await laptop.call("POST", "/v1/session/password", {**change, "current_password": PASSWORD})
        assert done.status == 204, await done.text()
        assert (await phone.call("GET", "/v1/session")).status == 401, "the other session ended"
        assert (await laptop.call("GET", "/v1/session")).status == 200, "the one that changed it goes on"
        assert (await new().sign_in("ann@example.com", "a brand new long password")).status == 303
        assert (await app.call("POST", "/v1/session/password", "owner", change)).status == 403, "a key has no password"


def _reset_link(tx: Any, email: str) -> str:
    from alertflow import members
    from alertflow.storage import member_rows

    found = member_rows.member_by_email(tx, email)
    assert found
    return members.link_url("http://x", members.new_link(tx, found.member_id, 0.0, 1e10))


async def test_removing_a_member_ends_their_sessions_at_once(start_app: StartApp) -> None:
    app = await start_app()
    member_id = await add_member(app, "bob@example.com", "member")
    async with browsers(app) as new:
        browser = new()
        await browser.sign_in("bob@example.com")
        assert (await browser.call("GET", "/v1/session")).status == 200
        assert (await app.call("DELETE", f"/v1/members/{member_id}", "admin")).status == 204
        assert (await browser.call("GET", "/v1/session")).status == 401
        assert (await app.call("DELETE", f"/v1/members/{member_id}", "admin")).status == 404


async def problem(resp: Any, status: int) -> str:
    assert resp.status == status, await resp.text()
    assert resp.content_type == PROBLEM_CONTENT_TYPE
    return str((await resp.json())["detail"])


async def test_admins_manage_admins_and_members_and_only_owners_manage_owners(start_app: StartApp) -> None:
    app = await start_app()
    owner = await add_member(app, "owner@example.com", "owner")
    admin = await add_member(app, "admin@example.com", "admin")
    assert "owner" in await problem(
        await app.call("POST", "/v1/members", "admin", {"email": "o@x.io", "role": "owner"}), 403
    )
    assert (await app.call("POST", "/v1/members", "admin", {"email": "a@x.io", "role": "admin"})).status == 201
    await problem(await app.call("GET", "/v1/members", "member"), 403)
    await problem(await app.call("POST", "/v1/members", "member", {"email": "m@x.io", "role": "member"}), 403)
    await problem(await app.call("PATCH", f"/v1/members/{admin}", "admin", {"role": "owner"}), 403)
    await problem(await app.call("PATCH", f"/v1/members/{owner}", "admin", {"role": "member"}), 403)
    await problem(await app.call("DELETE", f"/v1/members/{owner}", "admin"), 403)
    demoted = await app.call("PATCH", f"/v1/members/{admin}", "admin", {"role": "member"})
    assert demoted.status == 200 and (await demoted.json())["role"] == "member"
    assert "last owner" in await problem(await app.call("DELETE", f"/v1/members/{owner}", "owner"), 409)
    await problem(await app.call("PATCH", f"/v1/members/{owner}", "owner", {"role": "admin"}), 409)
    promoted = await app.call("PATCH", f"/v1/members/{admin}", "owner", {"role": "owner"})
    assert (await promoted.json())["role"] == "owner"
    assert (await app.call("DELETE", f"/v1/members/{owner}", "owner")).status == 204, "another owner remains"
    await problem(await app.call("POST", "/v1/members", "owner", {"email": "not an email", "role": "admin"}), 422)
    await problem(await app.call("POST", "/v1/members", "owner", {"email": "A@x.io", "role": "member"}), 409)


async def test_a_member_of_another_tenant_is_not_found(start_app: StartApp) -> None:
    from tests.conftest import add_tenant

    app = await start_app()
    _, other_keys = await add_tenant(app.svc, "globex")
    as_globex = {"Authorization": f"Bearer {other_keys['owner']}"}
    invited = await app.client.post("/v1/members", json={"email": "g@x.io", "role": "member"}, headers=as_globex)
    theirs = await invited.json()
    await problem(await app.call("PATCH", f"/v1/members/{theirs['member_id']}", "owner", {"role": "admin"}), 404)
    await problem(await app.call("DELETE", f"/v1/members/{theirs['member_id']}", "owner"), 404)
    assert (await (await app.call("GET", "/v1/members")).json())["items"] == []


async def test_a_session_has_its_members_role_and_no_more(start_app: StartApp) -> None:
    app = await start_app()
    await add_member(app, "m@example.com", "member")
    async with browsers(app) as new:
        browser = new()
        await browser.sign_in("m@example.com")
        refused = await browser.call("PUT", "/v1/users/u1", {"email": "ann@example.com"})
        assert "needs the admin role; you are member" in await problem(refused, 403)
        assert (await browser.call("GET", "/v1/members")).status == 403


async def test_an_operator_creates_a_tenant_switches_to_it_and_acts_there_as_owner(start_app: StartApp) -> None:
    app = await start_app()
    await add_member(app, "op@example.com", role=None)
    await add_member(app, "owner@example.com", "owner")
    async with browsers(app) as new:
        operator, owner = new(), new()
        await operator.sign_in("op@example.com")
        await owner.sign_in("owner@example.com")
        who = await (await operator.call("GET", "/v1/session")).json()
        assert who["operator"] is True and who["role"] == "owner" and who["tenant_id"] == app.tenant_id
        created = await operator.call("POST", "/v1/tenants", {"name": "globex"})
        assert created.status == 201, await created.text()
        globex = await created.json()
        assert globex["api_key"].startswith("af_") and globex["name"] == "globex"
        await problem(await operator.call("POST", "/v1/tenants", {"name": "globex"}), 409)
        listed = await (await operator.call("GET", "/v1/tenants")).json()
        assert [t["name"] for t in listed["items"]] == ["acme", "globex"]
        switched = await operator.call("POST", "/v1/session/tenant", {"tenant_id": globex["tenant_id"]})
        assert (await switched.json())["tenant_id"] == globex["tenant_id"]
        assert (await operator.call("PUT", "/v1/users/u1", {"email": "g@example.com"})).status == 200
        assert (await app.call("GET", "/v1/users/u1")).status == 404, "written in globex, not acme"
        bad = await operator.call("POST", "/v1/session/tenant", {"tenant_id": "ten_nope"})
        assert (await bad.json())["errors"][0]["field"] == "tenant_id"
        for refused in (
            await owner.call("GET", "/v1/tenants"),
            await owner.call("POST", "/v1/tenants", {"name": "initech"}),
            await owner.call("POST", "/v1/session/tenant", {"tenant_id": globex["tenant_id"]}),
            await app.call("GET", "/v1/tenants", "owner"),
        ):
            assert "operator" in await problem(refused, 403)


async def test_an_operator_needs_a_tenant_to_exist_first(tmp_path: Path) -> None:
    result = alertflow("members", "create", "--email", "op@example.com", "--operator", cwd=tmp_path)
    assert result.returncode == 1 and "alertflow init" in result.stderr
